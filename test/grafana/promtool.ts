/**
 * Debian's prometheus package, driven for real: promtool's checks, and the exposition text
 * read back into families. A missing promtool fails the test with the package to install.
 */
import { spawnSync } from 'node:child_process';

export const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool';

export interface ToolRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function promtool(args: string[], input?: string): ToolRun {
  const run = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (run.error !== undefined)
    throw new Error(
      `${PROMTOOL} could not run (${run.error.message}): install Debian's "prometheus" package (apt-get install -y prometheus); npm test does this when run as root`,
    );
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

export interface Family {
  type: string;
  /** Every label name seen on a sample of the family. */
  labels: Set<string>;
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

/** Families by name from Prometheus text exposition (the format prom-client writes). */
export function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typed) {
      out.set(typed[1] as string, { type: typed[2] as string, labels: new Set() });
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (sample === null) continue;
    const name = sample[1] as string;
    const family =
      out.get(name) ?? out.get(SUFFIXES.reduce((n, s) => (n.endsWith(s) ? n.slice(0, -s.length) : n), name));
    if (family === undefined) throw new Error(`sample ${name} has no # TYPE line`);
    for (const [, label] of (sample[2] ?? '').matchAll(/(\w+)="(?:[^"\\]|\\.)*"/g))
      family.labels.add(label as string);
  }
  return out;
}
