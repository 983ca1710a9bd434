/**
 * Rolling upgrades of a three-node cluster (NATS on loopback, nodes in this process),
 * driven by the orchestrator library through the nodes' admin APIs, with calls up on every
 * node and across nodes: a rollout that upgrades every node with no call dropped; a health
 * gate failing on the second node, which rolls it and the first back (once through the
 * node's own watch, once on the node's figures alone); a preflight failing on one node,
 * which leaves every node as it was.
 */
import { describe, expect, it } from 'vitest';
import { defaultThresholds } from '../../server/ops/health-gate.ts';
import { type RolloutEvent, type RolloutOptions, rollOut } from '../../server/ops/rollout.ts';
import { answeredCall } from '../support/calls.ts';
import type { TestNode } from '../support/test-node.ts';
import { releasesOf, startTraffic, useRolloutCluster } from './rollout-helpers.ts';

const FAULTY_CRASH = '1.2.0-faulty-crash';
const FAULTY_MIGRATE = '1.2.0-faulty-migrate';
const cluster = useRolloutCluster(['1.1.0', FAULTY_CRASH, FAULTY_MIGRATE]);

function options(nodes: TestNode[], version: string, more: Partial<RolloutOptions> = {}): RolloutOptions {
  const first = nodes[0] as TestNode;
  return {
    version,
    adminUrl: first.adminUrl,
    token: first.adminToken,
    watchMs: 500,
    gate: defaultThresholds,
    artifactPath: cluster.artifact(version),
    ...more,
  };
}

/** Three nodes with light traffic, and one more call with both phones on the second node. */
async function withCallOnSecond(prefix: string) {
  const nodes = await cluster.start(prefix);
  const n2 = nodes[1] as TestNode;
  const traffic = await startTraffic(nodes, { echoes: 5, cross: 2 });
  const [a, b] = [await n2.phone(`${prefix}-a`), await n2.phone(`${prefix}-b`)];
  const callId = `${prefix}-call`;
  await answeredCall(a, b, callId, `${prefix}-b`);
  return { nodes, traffic, a, b, callId };
}

/** Runs `act` once, as the rollout reports `node`'s install entering its watch window. */
function duringWatchOf(node: string, act: () => void) {
  let fired = false;
  return {
    onEvent(e: RolloutEvent): void {
      if (e.type === 'install_phase' && e.node === node && e.phase === 'watch' && !fired) {
        fired = true;
        act();
      }
    },
    fired: () => fired,
  };
}

const on = (release: string, permanent = release) => ({ current: release, permanent, sessions: [release] });

describe('cluster rolling upgrade', () => {
  it('upgrades three nodes one by one under load: no call dropped, every node on 1.1.0 and permanent', async () => {
    const nodes = await cluster.start('up');
    const traffic = await startTraffic(nodes, { echoes: 30, cross: 12 });
    const events: RolloutEvent[] = [];
    const report = await rollOut(options(nodes, '1.1.0', { onEvent: (e) => events.push(e) }));

    expect(report.outcome, report.reason ?? '').toBe('upgraded');
    expect(report.nodes.map((n) => [n.node, n.from, n.status])).toEqual([
      ['up1', '1.0.0', 'permanent'],
      ['up2', '1.0.0', 'permanent'],
      ['up3', '1.0.0', 'permanent'],
    ]);
    for (const n of report.nodes) expect(n.verdict).toMatchObject({ ok: true, dropped: 0, crashes: 0 });
    // Node by node: each installs and passes its gate before the next one starts.
    const steps = events
      .filter((e) => e.type === 'installing' || e.type === 'gate_passed')
      .map((e) => `${e.type} ${'node' in e ? e.node : ''}`);
    expect(steps).toEqual([
      'installing up1',
      'gate_passed up1',
      'installing up2',
      'gate_passed up2',
      'installing up3',
      'gate_passed up3',
    ]);
    expect(events.filter((e) => e.type === 'unpacked')).toHaveLength(3);
    expect(await releasesOf(nodes)).toEqual([on('1.1.0'), on('1.1.0'), on('1.1.0')]);
    traffic.check();
    await traffic.drain();
  }, 120_000);

  it('a health gate failing on the second node rolls it and the first back; no call dropped', async () => {
    // A call on the second node whose caller presses a key during that node's watch window:
    // the faulty release's dtmf handler crashes, the node's watch catches it and rolls back.
    const { nodes, traffic, a, b, callId } = await withCallOnSecond('gate');
    const press = duringWatchOf('gate2', () => a.send({ type: 'dtmf', callId, digit: '7' }));
    const report = await rollOut(options(nodes, FAULTY_CRASH, { watchMs: 3000, onEvent: press.onEvent }));

    expect(press.fired()).toBe(true);
    expect(report.outcome).toBe('rolled_back');
    expect(report.reason).toMatch(/HOT_ERR_ROLLOUT_GATE_FAILED|health gate failed on gate2/);
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([
      ['gate1', 'rolled_back'],
      ['gate2', 'rolled_back'],
      ['gate3', 'preflighted'],
    ]);
    expect(await releasesOf(nodes)).toEqual([on('1.0.0'), on('1.0.0'), on('1.0.0')]);
    // The crashed message was handled again on the old code: the key reached the other phone.
    expect(await b.next('dtmf')).toMatchObject({ callId, digit: '7' });
    traffic.check();
    for (const p of [a, b]) expect(p.isOpen).toBe(true);
    await traffic.drain();
  }, 120_000);

  it("a health gate failing on the node's own figures (a call dropped in its watch) rolls it and the first back", async () => {
    // A sound release, and nothing its watch would catch: the test drops the call on the
    // second node itself, cutting its caller's connection, and only the gate's figures show it.
    const { nodes, traffic, a, b, callId } = await withCallOnSecond('drop');
    const cut = duringWatchOf('drop2', () => a.ws.terminate());
    const events: RolloutEvent[] = [];
    const report = await rollOut(
      options(nodes, '1.1.0', {
        watchMs: 3000,
        onEvent: (e) => {
          events.push(e);
          cut.onEvent(e);
        },
      }),
    );

    expect(cut.fired()).toBe(true);
    expect(report.outcome).toBe('rolled_back');
    expect(report.reason).toMatch(
      /health gate failed on drop2: 1 call\(s\) dropped \(client_gone 1\), at most 0/,
    );
    // The node's install went through its watch: the gate failed it on the node's figures.
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'install_phase', node: 'drop2', phase: 'installed' }),
    );
    expect(report.nodes[1]?.verdict).toMatchObject({ ok: false, dropped: 1, crashes: 0, errors: 0 });
    // Both installed nodes are downgraded, the last one first; the third was never touched.
    expect(events.filter((e) => e.type === 'rolling_back').map((e) => e.node)).toEqual(['drop2', 'drop1']);
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([
      ['drop1', 'rolled_back'],
      ['drop2', 'rolled_back'],
      ['drop3', 'preflighted'],
    ]);
    expect(await releasesOf(nodes)).toEqual([on('1.0.0'), on('1.0.0'), on('1.0.0')]);
    // Only the call the test dropped ended: its other leg heard so, everything else is up.
    expect(await b.next('ended')).toMatchObject({ callId, cause: 'peer_gone' });
    expect(b.isOpen).toBe(true);
    traffic.check();
    await traffic.drain();
  }, 120_000);

  it('a preflight failing on one node changes no node', async () => {
    // A call on hold on the second node only: the faulty release cannot migrate it.
    const { nodes, traffic, a, b, callId } = await withCallOnSecond('pre');
    a.send({ type: 'hold', callId });
    await b.next('held');
    const before = await Promise.all(nodes.map((n) => n.admin('/admin/releases')));

    const report = await rollOut(options(nodes, FAULTY_MIGRATE));

    expect(report.outcome).toBe('preflight_failed');
    expect(report.reason).toMatch(/preflight of 1\.2\.0-faulty-migrate failed on pre2; no node was changed/);
    expect(report.preflightFailures).toEqual([
      expect.objectContaining({
        node: 'pre2',
        failed: 2,
        error: expect.stringMatching(/HOT_ERR_PREFLIGHT_FAILED/),
      }),
    ]);
    expect(report.preflightFailures[0]?.failures).toHaveLength(2);
    expect(report.nodes.map((n) => n.status)).toEqual(['pending', 'pending', 'pending']);
    // Nothing installed anywhere: same releases, no install run, only the upload is new.
    const after = await Promise.all(nodes.map((n) => n.admin('/admin/releases')));
    for (const [i, n] of after.entries()) {
      const was = before[i]?.body as { current: string; install: unknown };
      expect(n.body).toMatchObject({ current: was.current, permanent: '1.0.0', install: was.install });
    }
    expect(await releasesOf(nodes)).toEqual([on('1.0.0'), on('1.0.0'), on('1.0.0')]);
    a.send({ type: 'resume', callId });
    await b.next('resumed');
    traffic.check();
    await traffic.drain();
  }, 120_000);
});
