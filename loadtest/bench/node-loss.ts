/**
 * `npm run bench -- node-loss`: how long the surviving side of a cluster takes to notice a
 * node killed with SIGKILL, and whether every call it took down is recorded exactly once.
 *
 * NATS on loopback and two nodes, each its own process. Per run: `--calls` calls from users
 * on the survivor to users on the victim and as many the other way (the victim owns those
 * records), answered, with media; then the victim is killed with SIGKILL and the survivor's
 * phones time their `ended` (cause node_lost). Then the victim restarts on its data
 * directory: every call must have exactly one CDR across both nodes, written by the
 * survivor (the claim on each CDR id decides; the restarted node recovers none of them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { startNatsServer } from '../../server/dev/nats-server.ts';
import type { NodeProcess } from '../client/node-process.ts';
import { Phone } from '../client/phone.ts';
import { NodeAdmin } from '../harness/node-admin.ts';
import { BENCH_TOKEN, BenchNodes } from './bench-nodes.ts';
import { type Figure, median } from './report.ts';
import { log } from './sessions.ts';

export interface NodeLossOptions {
  runs: number;
  /** Calls each way per run. */
  calls: number;
}

interface Run {
  firstEndedMs: number;
  lastEndedMs: number;
  endedNodeLost: number;
  cdrsOnSurvivor: number;
  cdrsRecovered: number;
  cdrsDuplicated: number;
  cdrsMissing: number;
}

async function answered(caller: Phone, callee: Phone, callId: string, to: string): Promise<void> {
  // A user registered on the other node reaches this one's copy of the directory a moment later.
  for (let tries = 0; ; tries++) {
    caller.send({ type: 'invite', callId, to });
    const m = await caller.next((x) => x.type === 'trying' || x.type === 'error', 10_000);
    if (m.type === 'trying') break;
    if (tries === 50) throw new Error(`${to} never found: ${JSON.stringify(m)}`);
    await sleep(20);
  }
  await callee.next('incoming', 10_000);
  callee.send({ type: 'answer', callId });
  await caller.next('answered', 10_000);
}

async function oneRun(natsUrl: string, run: number, calls: number): Promise<Run> {
  const nodes = new BenchNodes();
  const dirs = { survivor: nodes.dir('survivor'), victim: nodes.dir('victim') };
  const node = (name: keyof typeof dirs): Promise<NodeProcess> =>
    nodes.start(dirs[name], {
      // What is measured is the cluster's, not registration: phones register without tokens.
      args: ['--node', `${name}${run}`, '--cluster', natsUrl, '--open-registration'],
    });
  const phones: Phone[] = [];
  const phone = async (url: string, user: string) => {
    const p = await Phone.connect(url, { keepLog: false });
    phones.push(p);
    await p.register(user);
    return p;
  };
  try {
    const survivor = await node('survivor');
    let victim = await node('victim');
    // Pairs: s (survivor) calls v (victim), and w (victim) calls t (survivor).
    const watched: { p: Phone; callId: string }[] = [];
    for (let i = 0; i < calls; i++) {
      // Users named apart per run: the directory is cluster-wide and outlives a run's nodes.
      const user = (side: string) => `r${run}${side}${i}`;
      const [s, v, w, t] = await Promise.all([
        phone(survivor.callsUrl, user('s')),
        phone(victim.callsUrl, user('v')),
        phone(victim.callsUrl, user('w')),
        phone(survivor.callsUrl, user('t')),
      ]);
      await answered(s, v, `out${i}`, user('v'));
      await answered(w, t, `in${i}`, user('t'));
      for (const [p, callId] of [
        [s, `out${i}`],
        [t, `in${i}`],
      ] as const) {
        p.send({ type: 'media', callId, seq: 0, sentAt: Date.now() });
        watched.push({ p, callId });
      }
    }
    const ends = watched.map(({ p, callId }) =>
      p.next((m) => m.type === 'ended' && m.callId === callId, 15_000).then((m) => ({ m, at: Date.now() })),
    );
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const ended = await Promise.all(ends);
    const after = ended.map((e) => e.at - killedAt);

    const ids = new Set(watched.map((w) => w.callId));
    const cdrsOf = async (adminUrl: string): Promise<Cdr[]> =>
      (await new NodeAdmin({ adminUrl, token: BENCH_TOKEN }).cdrsSince(0)).filter((c) => ids.has(c.callId));
    // The survivor's journal writes each once its claim is answered: give it a moment.
    let onSurvivor: Cdr[] = [];
    for (let tries = 0; tries < 50 && onSurvivor.length < ids.size; tries++) {
      await sleep(100);
      onSurvivor = await cdrsOf(survivor.adminUrl);
    }
    await victim.exited;
    victim = await node('victim');
    const onVictim = await cdrsOf(victim.adminUrl);
    const all = [...onSurvivor, ...onVictim].map((c) => c.callId);
    return {
      firstEndedMs: Math.min(...after),
      lastEndedMs: Math.max(...after),
      endedNodeLost: ended.filter((e) => (e.m as { cause?: string }).cause === 'node_lost').length,
      cdrsOnSurvivor: onSurvivor.length,
      cdrsRecovered: onVictim.length,
      cdrsDuplicated: all.length - new Set(all).size,
      cdrsMissing: ids.size - new Set(all).size,
    };
  } finally {
    for (const p of phones) p.ws.terminate();
    await nodes.close();
  }
}

export async function nodeLossBench(o: NodeLossOptions): Promise<Figure[]> {
  const nats = await startNatsServer();
  const runs: Run[] = [];
  try {
    for (let r = 1; r <= o.runs; r++) {
      const run = await oneRun(nats.url, r, o.calls);
      log(
        `run ${r}: ended after ${run.firstEndedMs}-${run.lastEndedMs} ms, ${run.endedNodeLost}/${2 * o.calls} node_lost, ` +
          `CDRs ${run.cdrsOnSurvivor} on the survivor, ${run.cdrsRecovered} recovered, ${run.cdrsDuplicated} duplicated`,
      );
      runs.push(run);
    }
  } finally {
    await nats.stop();
  }
  const m = (f: (r: Run) => number) => median(runs.map(f));
  const calls = 2 * o.calls;
  return [
    {
      key: 'first_ended_ms',
      value: m((r) => r.firstEndedMs),
      label: 'SIGKILL to the first call ended on the survivor',
    },
    {
      key: 'last_ended_ms',
      value: m((r) => r.lastEndedMs),
      target: { max: 3000 },
      label: 'SIGKILL to the last call ended on the survivor',
    },
    { key: 'calls_per_run', value: calls, label: 'calls taken down per run (half owned by the killed node)' },
    {
      key: 'calls_not_ended_node_lost',
      value: m((r) => calls - r.endedNodeLost),
      target: { max: 0 },
      label: 'calls not ended with node_lost',
    },
    {
      key: 'cdrs_missing',
      value: m((r) => r.cdrsMissing),
      target: { max: 0 },
      label: 'calls without a CDR (both nodes)',
    },
    {
      key: 'cdrs_duplicated',
      value: m((r) => r.cdrsDuplicated),
      target: { max: 0 },
      label: 'CDRs written twice (both nodes)',
    },
    {
      key: 'cdrs_recovered_by_restart',
      value: m((r) => r.cdrsRecovered),
      label: 'CDRs the restarted node wrote (the survivor had them)',
    },
  ];
}
