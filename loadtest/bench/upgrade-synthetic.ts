/**
 * The upgrade bench's `synthetic` workload: session-like processes of the bench's own tiny
 * release (loadtest/bench/upgrade-release/<version>), 1.0.0 to 2.0.0, its state regrouped.
 * It isolates the installer's cost on a small flat state. Each message is acked to one
 * collector process with how long it waited in the session's mailbox, measured by the
 * session itself as it handles it.
 */
import { fileURLToPath } from 'node:url';
import type { Artifact } from '../../server/release/artifact.ts';
import { evaluateArtifact } from '../../server/release/loader.ts';
import { type AnyBehaviour, type Pid, Runtime } from '../../server/runtime/index.ts';
import { buildCodes, clock, type Fleet, Sequences, sink, Traffic, type Workload } from './upgrade-fleet.ts';
import type { Ack, Traffic as Message, SessionArgs } from './upgrade-release/1.0.0/index.ts';

class AckTraffic extends Traffic {
  readonly acks: Sequences;

  constructor(streams: number) {
    super(streams);
    this.acks = new Sequences(streams);
  }

  get handled(): number {
    return this.acks.received;
  }

  get inFlight(): number {
    return this.sentTotal - this.acks.received;
  }

  ack([i, seq, waited, at]: Ack): void {
    this.wait.take(waited, at);
    this.acks.take(i, seq);
  }
}

export async function syntheticWorkload(): Promise<Workload> {
  const entry = (v: string) => fileURLToPath(new URL(`./upgrade-release/${v}/index.ts`, import.meta.url));
  const codes = await buildCodes('bench-upgrade', { '1.0.0': entry('1.0.0'), '2.0.0': entry('2.0.0') });
  const load = (v: string) => evaluateArtifact(codes.get(v) as Artifact);
  return {
    from: '1.0.0',
    to: '2.0.0',
    async setUp(n): Promise<Fleet> {
      const from = load('1.0.0');
      const rt = new Runtime({ node: 'bench', clock });
      rt.modules.load(from.behaviours[0] as AnyBehaviour);
      const traffic = new AckTraffic(n);
      const collector = rt.spawn(
        sink<Ack>('bench_collector', (ack) => traffic.ack(ack)),
        null,
      );
      const sessions: Pid[] = [];
      for (let index = 0; index < n; index++) {
        const args: SessionArgs = { index, collector };
        sessions.push(rt.spawn('bench_session', args));
        if (index % 10_000 === 9_999) await new Promise((r) => setImmediate(r));
      }
      return {
        rt,
        from,
        dryFrom: load('1.0.0'),
        loadTo: () => load('2.0.0'),
        sessions,
        moving: n,
        traffic,
        streams: n,
        pace: 'random',
        send(i, seq, sentAt) {
          const message: Message = { seq, sentAt };
          rt.cast(sessions[i] as Pid, message);
        },
        tally: () => ({
          lost: traffic.acks.lost((i) => traffic.sent[i] as number),
          duplicated: traffic.acks.duplicated,
          reordered: traffic.acks.reordered,
          failures: 0,
          extra: {},
        }),
      };
    },
    figures: () => [],
  };
}
