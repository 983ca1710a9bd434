/** Reading a node's Prometheus /metrics. */
import type { TestNode } from './test-node.ts';

/** The value of one series on the node's /metrics (0 when absent). */
export async function metric(
  n: TestNode,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sample(await (await fetch(`${n.httpUrl}/metrics`)).text(), name, labels) ?? 0;
}

/** The value of the first sample of `name` whose labels include `labels`. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
