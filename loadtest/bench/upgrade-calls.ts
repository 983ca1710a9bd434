/**
 * The upgrade bench's `calls` workload: the node's own call sessions, moved by the install
 * from 1.0.0 to a shipped release (2.0.0 by default, or 1.1.0).
 *
 * The runtime is set up as server/node/node.ts sets it up, less the sockets: release 1.0.0
 * built and evaluated as the node boots it (its baseline), `ports` and `sessions` dynamic
 * supervisors, each session started with its port as the gateway starts it, and the
 * node's default ring and media timeouts. The target release goes the real way: built from
 * server/calls/releases/<version> with esbuild, signed, written, read back, verified and
 * evaluated with `vm.compileFunction`, afresh for the dry runs, as the release handler does.
 *
 * Each port is a sink process: it stands where the node's port stands (the session links
 * to it and sends it every frame for its phone) and checks the frames instead of writing
 * them to a socket. The registered `cdr_journal` is a sink too. Every session registers a
 * user; 80% are in answered two-party calls, 10% in calls to the echo service (one echo
 * leg process each, which the install moves too), 10% idle. The driver delivers `media`
 * frames to the sessions in calls as the gateway casts them, numbered per phone and stamped
 * with their send time. Every call leg has its media-check timer set.
 *
 * Checked: each phone's media_acks arrive exactly once and in order, and so does the media
 * relayed to its peer (or echoed back to itself); an error or ended frame at any phone is
 * a failure (nothing may end a call). Timed:
 *
 * - the session's wait: the bench wraps the session behaviour of each release it loads so
 *   that, as the session takes a phone's frame (handleCast), `now - sentAt` is noted before
 *   the real session code handles it. That is the time the frame waited in the session's
 *   mailbox, as the synthetic workload measures it.
 * - the ack at the port: when the media_ack reaches the sink port, which adds the port's
 *   own time in the run queue; what a phone's ack round trip would show, less its socket.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  JOURNAL,
  type JournalMessage,
  type Release,
  type SessionArgs,
  type SessionConfig,
} from '../../server/calls/contract.ts';
import type { ClientMessage, ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { BUILT_IN } from '../../server/calls/releases/built-in.ts';
import { releaseEntry } from '../../server/calls/releases/index.ts';
import { defaultSettings } from '../../server/node/settings.ts';
import type { Artifact } from '../../server/release/artifact.ts';
import { evaluateArtifact } from '../../server/release/loader.ts';
import {
  type AnyBehaviour,
  type Behaviour,
  noreply,
  type Pid,
  type ProcessContext,
  Runtime,
  type SystemInfo,
  startChild,
  stop,
} from '../../server/runtime/index.ts';
import {
  buildCodes,
  clock,
  type Fleet,
  Sequences,
  sink,
  type Tally,
  Traffic,
  Waits,
  type Workload,
} from './upgrade-fleet.ts';

/** Targets the calls workload can install over 1.0.0. */
export const CALL_TARGETS = ['1.1.0', '2.0.0'];

/** Shares of the sessions in answered two-party calls and in echo calls; the rest are idle. */
const TWO_PARTY_SHARE = 0.8;
const ECHO_SHARE = 0.1;
/** Sessions started at once, as phones connecting together would start them. */
const START_BATCH = 2000;
/**
 * The cycles' calls carry no media: with the node's media timeout they would end half-way
 * (and the heap shrink under the figure), so the cycle fleet's calls time out after a day.
 */
const CYCLE_MEDIA_TIMEOUT_MS = 86_400_000;

/** Who is in which call: sessions [0, 2·pairs) in pairs (even calls odd), then echo callers, then idle ones. */
class Layout {
  readonly pairs: number;
  readonly echo: number;
  readonly streams: number;
  /** The call of stream i (both legs of a pair name it alike). */
  readonly callIds: string[] = [];

  constructor(readonly sessions: number) {
    this.pairs = Math.floor((sessions * TWO_PARTY_SHARE) / 2);
    this.echo = Math.floor(sessions * ECHO_SHARE);
    this.streams = 2 * this.pairs + this.echo;
    for (let i = 0; i < this.streams; i++) this.callIds.push(i < 2 * this.pairs ? `c${i >> 1}` : `e${i}`);
  }

  user = (i: number): string => `u${i}`;

  callId(i: number): string {
    return this.callIds[i] as string;
  }

  /** Whose phone's media reaches session i's phone: its peer's, its own (echo), or none (-1). */
  relayFrom(i: number): number {
    if (i < 2 * this.pairs) return i ^ 1;
    return i < this.streams ? i : -1;
  }
}

/** What the phones got: acks and relayed media checked, the other frames counted by type. */
class CallTraffic extends Traffic {
  readonly acks: Sequences;
  readonly relays: Sequences;
  /** When a media_ack reached its phone's port. */
  readonly atPort = new Waits();
  readonly frames = new Map<string, number>();
  readonly journal = new Map<string, number>();
  failures = 0;
  firstFailure: string | undefined;

  constructor(readonly layout: Layout) {
    super(layout.streams);
    this.acks = new Sequences(layout.streams);
    this.relays = new Sequences(layout.streams);
    this.alsoTimed.push(this.atPort);
  }

  get handled(): number {
    return this.acks.received;
  }

  get inFlight(): number {
    return this.sentTotal - Math.min(this.acks.received, this.relays.received);
  }

  /** A session sends the media_ack for a phone's frame: it is handling that frame now. */
  handling(sentAt: number): void {
    const now = clock.now();
    this.wait.take(now - sentAt, now);
  }

  ack(i: number, seq: number, sentAt: number): void {
    const now = clock.now();
    this.atPort.take(now - sentAt, now);
    this.acks.take(i, seq);
  }

  frame(i: number, m: ServerMessage): void {
    if (m.type === 'error' || m.type === 'ended') {
      this.failures++;
      this.firstFailure ??= `session ${i}: ${JSON.stringify(m)}`;
    }
    this.frames.set(m.type, (this.frames.get(m.type) ?? 0) + 1);
  }

  count(type: string): number {
    return this.frames.get(type) ?? 0;
  }

  tally(): Tally {
    const sent = (i: number) => (i < 0 ? 0 : (this.sent[i] as number));
    return {
      lost: this.acks.lost(sent) + this.relays.lost((i) => sent(this.layout.relayFrom(i))),
      duplicated: this.acks.duplicated + this.relays.duplicated,
      reordered: this.acks.reordered + this.relays.reordered,
      failures: this.failures,
      extra: {
        acks: this.acks.received,
        relayed: this.relays.received,
        pairs: this.layout.pairs,
        echo: this.layout.echo,
        portWaitMs: this.atPort.max,
      },
    };
  }
}

/** `r` with its session noting how long each phone frame waited, as it takes it (see the header). */
function watched(r: Release, traffic: CallTraffic): Release {
  const real = r.session;
  const handleCast = real.handleCast;
  if (handleCast === undefined) throw new Error(`session ${real.version} takes no phone frames`);
  const session: AnyBehaviour = {
    ...real,
    handleCast(message: ClientMessage, state: unknown, ctx: ProcessContext) {
      if (message.type === 'media') traffic.handling(message.sentAt);
      return handleCast.call(real, message, state, ctx);
    },
  };
  return { ...r, session, behaviours: r.behaviours.map((b) => (b === real ? session : b)) };
}

type PortInfo = ServerMessage | SystemInfo;

/** A phone's port that checks the frames instead of writing them to a socket. Its state is its phone's index. */
function sinkPort(
  traffic: CallTraffic,
): Behaviour<number, number, { call: never; reply: never; cast: never; info: PortInfo }> {
  return {
    name: 'bench_port',
    version: '1.0.0',
    init(index, ctx) {
      // As the node's port: a session that ends ends its port.
      ctx.trapExit(true);
      return index;
    },
    handleInfo(m: PortInfo, index) {
      switch (m.type) {
        case 'media_ack':
          traffic.ack(index, m.seq, m.sentAt);
          break;
        case 'media':
          traffic.relays.take(index, m.seq);
          break;
        case 'EXIT':
          return stop(m.reason, index);
        case 'DOWN':
          break;
        default:
          traffic.frame(index, m);
      }
      return noreply(index);
    },
  };
}

/** Every phone's frames so far have been handled, by the sessions and their ports. */
async function settled(rt: Runtime): Promise<void> {
  await rt.idle();
  await new Promise((r) => setImmediate(r));
  await rt.idle();
}

/** Steps the answers are spread over (see startCalls). */
const ANSWER_STEPS = 50;

/**
 * Start n sessions as the gateway does (a port, then its session), register them and set up
 * their calls. `spread`: the answers over one media-check interval (see below).
 */
async function startCalls(
  rt: Runtime,
  layout: Layout,
  config: SessionConfig,
  spread: boolean,
): Promise<Pid[]> {
  const n = layout.sessions;
  const sessions = new Array<Pid>(n);
  for (let first = 0; first < n; first += START_BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = first; i < Math.min(n, first + START_BATCH); i++)
      batch.push(
        (async () => {
          const port = await startChild(rt, 'ports', i, Number.POSITIVE_INFINITY);
          const args: SessionArgs = { port, config };
          sessions[i] = await startChild(rt, 'sessions', args, Number.POSITIVE_INFINITY);
        })(),
      );
    await Promise.all(batch);
  }
  // What the phones send, one step after the other, as the gateway casts it.
  const phone = (i: number, m: ClientMessage) => rt.cast(sessions[i] as Pid, m);
  for (let i = 0; i < n; i++) phone(i, { type: 'register', user: layout.user(i) });
  await settled(rt);
  for (let i = 0; i < 2 * layout.pairs; i += 2)
    phone(i, { type: 'invite', callId: layout.callId(i), to: layout.user(i + 1) });
  await settled(rt);
  // An answer (the echo service answers its invite at once) starts both legs' media checks,
  // which then come back every mediaTimeoutMs / 4: spread over that, as calls answered at
  // random times are, or every check in the node would fall due in the same burst.
  const answers: (() => void)[] = [];
  for (let i = 1; i < 2 * layout.pairs; i += 2)
    answers.push(() => phone(i, { type: 'answer', callId: layout.callId(i) }));
  for (let i = 2 * layout.pairs; i < layout.streams; i++)
    answers.push(() => phone(i, { type: 'invite', callId: layout.callId(i), to: 'echo' }));
  const steps = spread ? ANSWER_STEPS : 1;
  for (let step = 0; step < steps; step++) {
    const started = performance.now();
    const from = Math.floor((answers.length * step) / steps);
    for (const answer of answers.slice(from, Math.floor((answers.length * (step + 1)) / steps))) answer();
    await settled(rt);
    if (spread) await sleep(Math.max(0, config.mediaTimeoutMs / 4 / steps - (performance.now() - started)));
  }
  return sessions;
}

/**
 * The least traffic (media frames a second in all) for `sessions` sessions: each phone must
 * send at least twice per media timeout, or its call would end under the install.
 */
export const minCallsRate = (sessions: number): number =>
  Math.ceil(new Layout(sessions).streams / (defaultSettings.mediaTimeoutMs / 2 / 1000));

/** `to` (one of CALL_TARGETS) installed over the node's call sessions on 1.0.0. */
export async function callsWorkload(to: string): Promise<Workload> {
  const built = await buildCodes('hotline-calls', {
    [BUILT_IN]: releaseEntry(BUILT_IN),
    [to]: releaseEntry(to),
  });
  // Loaded as the node loads each: the baseline once, the target afresh for each use.
  const baseline = evaluateArtifact<Release>(built.get(BUILT_IN) as Artifact);
  return {
    from: baseline.version,
    to,
    async setUp(n, forCycles): Promise<Fleet> {
      const layout = new Layout(n);
      const traffic = new CallTraffic(layout);
      const rt = new Runtime({ node: 'bench', clock });
      const from = watched(baseline, traffic);
      for (const b of from.behaviours) rt.modules.load(b);
      rt.modules.load(sinkPort(traffic));
      rt.modules.load(
        sink<JournalMessage>('bench_journal', (m) =>
          traffic.journal.set(m.type, (traffic.journal.get(m.type) ?? 0) + 1),
        ),
      );
      rt.spawn('bench_journal', null, { name: JOURNAL });
      rt.spawn('dynamic_supervisor', { module: 'bench_port', name: 'ports' });
      rt.spawn('dynamic_supervisor', { module: 'session', name: 'sessions', shutdown: 5000 });
      const config: SessionConfig = {
        ringTimeoutMs: defaultSettings.ringTimeoutMs,
        mediaTimeoutMs: forCycles ? CYCLE_MEDIA_TIMEOUT_MS : defaultSettings.mediaTimeoutMs,
      };
      const sessions = await startCalls(rt, layout, config, !forCycles);
      const answered = traffic.count('answered');
      const opened = traffic.journal.get('open') ?? 0;
      const calls = layout.pairs + layout.echo;
      if (traffic.failures > 0 || answered !== 2 * layout.pairs + layout.echo || opened !== calls)
        throw new Error(
          `call setup: ${answered} legs answered, ${opened} CDRs opened, of ${calls} calls; ${traffic.firstFailure ?? ''}`,
        );
      return {
        rt,
        from,
        // The release handler's dry-run copy of the baseline is the baseline itself.
        dryFrom: from,
        loadTo: () => watched(evaluateArtifact<Release>(built.get(to) as Artifact), traffic),
        sessions,
        // The sessions: every shipped appup leaves the service legs' module unchanged.
        moving: n,
        traffic,
        streams: layout.streams,
        pace: 'steady',
        send(i, seq, sentAt) {
          const media: ClientMessage = { type: 'media', callId: layout.callId(i), seq, sentAt };
          rt.cast(sessions[i] as Pid, media);
        },
        tally: () => traffic.tally(),
      };
    },
    figures: (m) => [
      { key: 'calls_two_party', value: m('pairs'), label: 'answered two-party calls (two sessions each)' },
      { key: 'calls_echo', value: m('echo'), label: 'answered calls to the echo service (an echo leg each)' },
      {
        key: 'max_ack_at_port_ms',
        value: m('portWaitMs'),
        label: "longest from a phone's frame reaching its session to its media_ack reaching the port, ms",
      },
      { key: 'media_acks', value: m('acks'), label: 'media_acks the phones got in the run' },
      {
        key: 'media_relayed',
        value: m('relayed'),
        label: 'media frames relayed to the other phone (or echoed)',
      },
    ],
  };
}
