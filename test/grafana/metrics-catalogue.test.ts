/**
 * grafana/README.md documents every metric; this keeps it honest against what /metrics
 * really exposes after a node has served calls, refused a bad frame and hot-installed a
 * release: same names, same types, and no label the table does not list.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adminPost,
  buildArtifact,
  install,
  settled,
  upload,
  useTrustingNodes,
} from '../support/call-releases.ts';
import { serviceCall } from '../support/calls.ts';
import { families, promtool } from './promtool.ts';

const readme = readFileSync(new URL('../../grafana/README.md', import.meta.url), 'utf8');

interface Documented {
  type: string;
  labels: string[];
}

/** The rows of the metric tables: | `name` | type | `label`, `label` | meaning | */
function documented(): Map<string, Documented> {
  const section = readme.slice(readme.indexOf('\n## Metrics'));
  const out = new Map<string, Documented>();
  for (const m of section.matchAll(/^\|\s*`(\w+)`\s*\|\s*(\w+)\s*\|([^|]*)\|/gm)) {
    const labels = [...(m[3] as string).matchAll(/`(\w+)`/g)].map((l) => l[1] as string);
    out.set(m[1] as string, { type: m[2] as string, labels });
  }
  return out;
}

/** Labels every series has, or that belong to the type rather than the metric. */
const IMPLIED = new Set(['node', 'le']);

/** prom-client's defaults that fail promtool's lint; named in the README as left alone. */
const KNOWN_LINT = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

describe('the metric catalogue', () => {
  const nodes = useTrustingNodes();

  it('lists exactly what /metrics exposes, with its types and labels', async () => {
    const n = await nodes.node();
    await upload(n, await buildArtifact(nodes.signer(), '1.1.0'));
    const a = await n.phone('alice');
    await serviceCall(a, 'c1');
    a.ws.send('{not json');
    const scrape = async () => families(await (await fetch(`${n.httpUrl}/metrics`)).text());
    // Some series exist only while an install runs: scrape once while a canary waits.
    expect((await install(n, '1.1.0', { mode: 'canary', canaryFraction: 1 })).phase).toBe('canary');
    const during = await scrape();
    await adminPost(n, '/admin/install/promote');
    expect((await settled(n)).outcome).toBe('installed');
    const exposed = await scrape();
    for (const [name, family] of during) {
      const after = exposed.get(name);
      if (after === undefined) continue;
      for (const l of family.labels) after.labels.add(l);
      after.samples += family.samples;
    }

    const docs = documented();
    expect([...docs.keys()].sort()).toEqual([...exposed.keys()].sort());
    for (const [name, family] of exposed) {
      const doc = docs.get(name) as Documented;
      expect(doc.type, name).toBe(family.type);
      const seen = [...family.labels].filter((l) => !IMPLIED.has(l)).sort();
      // A family with no sample in either scrape (prom-client's libuv requests, when none
      // was in flight) shows no labels to compare with.
      if (family.samples > 0)
        expect(seen, `${name}: labels in /metrics vs grafana/README.md`).toEqual([...doc.labels].sort());
    }
  });

  it('passes promtool check metrics but for the listed prom-client defaults', async () => {
    const n = await nodes.node();
    const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
    const run = promtool(['check', 'metrics'], text);
    const findings = `${run.stdout}${run.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(' ')[0]);
    expect(findings.sort()).toEqual([...KNOWN_LINT].sort());
    for (const name of KNOWN_LINT) expect(readme).toContain(`\`${name}\``);
  });
});
