/**
 * The old node's side of moving processes and phones (A). A batch is a set of phones whose
 * processes link to each other (a phone's port and session, and the legs of their calls,
 * which may be another phone's): suspended at a message boundary, sockets detached at a
 * frame boundary, images captured, then sent with the sockets. B restores and acks; A
 * commits (the processes live in B from now on; A's copies of the sockets close with no FIN)
 * and tells B to start them. On a nack, or B gone, A aborts: the processes resume here with
 * what was held for them, the sockets are reattached. The last batch takes every process
 * left (supervisors, the application, the journal) and what the node keeps besides.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import type { Gateway } from '../http/gateway.ts';
import {
  type DetachedWebSocket,
  detachWebSocket,
  reattachWebSocket,
  releaseDetachedSocket,
} from '../http/ws-handoff.ts';
import type { ReleasesImage } from '../release/handler.ts';
import type { MoveRoute, Pid, ProcessView, Runtime } from '../runtime/index.ts';
import type { SuccessorChannel } from './channel.ts';
import type { HandoffHooks, HandoffSummary } from './handoff.ts';
import type { Inbox } from './inbox.ts';
import type { MovingPhone, NamesChange } from './protocol.ts';
import type { SeatGiver } from './seat.ts';
import { SocketStream } from './socket-stream.ts';

/** Phones per batch: a batch's processes are suspended while it travels. */
const BATCH_PHONES = 200;
/**
 * With more phones than one batch takes, the first batches are smaller (this many, then
 * twice as many each time): their code runs cold, and the first one also waits for the
 * stream to fall quiet, so a full one would pause its phones the longest.
 */
const FIRST_BATCH_PHONES = 25;
/** How long a process may take to reach a message boundary. */
const SUSPEND_TIMEOUT_MS = 5_000;
/** How long B may take to restore a batch and ack it. */
const ACK_TIMEOUT_MS = 30_000;
/** How long the phones still starting (upgrade done, session not yet up) may take before the last batch. */
const STARTING_TIMEOUT_MS = 10_000;

export interface MovingNode {
  readonly rt: Runtime;
  readonly gateway: Gateway;
  readonly sockets: ReadonlyMap<number, WebSocket>;
  /** Processes that move only with the last batch: supervisors and node-wide singletons. */
  last(p: ProcessView): boolean;
  /** The application master: B's stop() stops it. */
  application(): Pid;
  /** prom-client's values, so B's counters go on from A's. */
  metrics(): Promise<unknown>;
  /** What else the node carries to B with the last batch (`LastBatch.node`). */
  carry(): unknown;
  /** Refuse phones from now on (only A's kept keep-alive connections could still bring one); returns what takes phones again. */
  stopAccepting(): () => void;
  /** Phones that cannot move (TLS) told to reconnect and ended here; resolves with how many. */
  reconnectUnmovable(): Promise<number>;
  /** In a cluster: the node's seat, handed over once B has everything (seat.ts). */
  readonly seat?: SeatGiver | undefined;
  /** The releases as the last processes leave (an install that waits goes on in B). */
  releases(): ReleasesImage;
}

type Counts = Pick<HandoffSummary, 'processes' | 'sockets' | 'batches' | 'maxPauseMs' | 'tlsReconnects'>;

/** A batch on its way: what A must commit or take back. */
interface Sent {
  readonly suspended: Pid[];
  readonly captured: Pid[];
  readonly detached: { phone: MovingPhone; ws: WebSocket; d: DetachedWebSocket }[];
  readonly startedAt: number;
}

/**
 * A handoff's mover: made as soon as B is spawned, so the phones' sockets stream to B while
 * it loads (socket-stream.ts); `run` moves everything once B listens.
 */
export function moveAll(node: MovingNode) {
  return (channel: SuccessorChannel, inbox: Inbox) => {
    const stream = new SocketStream(channel, inbox);
    stream.push(streamOrder(node));
    return {
      run: (hooks: HandoffHooks) => moveInBatches(node, channel, inbox, stream, hooks),
      stop: () => stream.stop(),
    };
  };
}

/** Every phone's socket, in the gateway's order (cheap: a batch puts its own first). */
function streamOrder(node: MovingNode): [number, WebSocket][] {
  return node.gateway.phones().flatMap((p) => {
    const ws = node.sockets.get(p.socket);
    return ws === undefined ? [] : [[p.socket, ws] as [number, WebSocket]];
  });
}

async function moveInBatches(
  node: MovingNode,
  channel: SuccessorChannel,
  inbox: Inbox,
  stream: SocketStream,
  hooks: HandoffHooks,
): Promise<Counts> {
  const { rt } = node;
  const route: MoveRoute = { send: (m) => void channel.send({ type: 'dist', message: m }).catch(() => {}) };
  inbox.handlers.dist = (m) => rt.move.receive(m.message);
  rt.move.peer(route);
  const seat = node.seat?.attach(channel, inbox);
  const names = namesSince(rt);
  const counts: Counts = { processes: 0, sockets: 0, batches: 0, maxPauseMs: 0, tlsReconnects: 0 };
  /** Batches B acked that A has not committed yet: A can still take them back. */
  const acked: { batch: number; sent: Sent }[] = [];
  /**
   * Suspend, capture and send a batch whose sockets B holds. Sockets B does not hold yet
   * stream first, the phones running meanwhile. One batch at a time: a batch captured while
   * the one before travels made both processes compete for the CPU with every phone, whose
   * frames then waited many times longer (one run each at 5,000 phones: p99 1,044 ms against
   * 94 ms), and the handoff took longer too.
   */
  const dispatch = async (phones: readonly MovingPhone[], pids: Pid[], last: boolean) => {
    const batch = ++counts.batches;
    const sockets = phones.map((p) => p.socket);
    if (stream.needs(sockets)) {
      stream.resume();
      await stream.ahead(sockets);
    }
    await stream.quiet();
    return { batch, sent: await send(node, channel, stream, batch, phones, pids, last, names) };
  };
  /** B's answer to a batch: acked, it waits for its commit; otherwise A takes it back here. */
  const confirm = async ({ batch, sent }: { batch: number; sent: Sent }) => {
    const answer = await inbox
      .take(['ack', 'nack'], ACK_TIMEOUT_MS, `the successor restores batch ${batch}`)
      .catch((err: unknown) => {
        takeBack(rt, sent);
        throw err;
      });
    if (answer.message.type === 'nack') {
      takeBack(rt, sent);
      throw new Error(`the successor refused batch ${batch}: ${answer.message.why}`);
    }
    acked.push({ batch, sent });
    // Counted as B has them: the last batch's metrics are A's values read after this.
    counts.processes += sent.captured.length;
    counts.sockets += sent.detached.length;
    hooks.moved(sent.captured.length, sent.detached.length);
  };
  /** Commits what B acked; resolves with the longest pause among them. */
  const commitAcked = async (): Promise<number> => {
    let longest = 0;
    // One at a time: if B goes meanwhile, those not yet committed are still A's to take back.
    for (let next = acked.shift(); next !== undefined; next = acked.shift()) {
      const { batch, sent } = next;
      rt.move.commit(sent.captured, route);
      for (const { phone, d } of sent.detached) {
        node.gateway.forget(phone.socket);
        releaseDetachedSocket(d);
      }
      await channel.send({ type: 'commit', batch });
      const pause = Math.round(performance.now() - sent.startedAt);
      counts.maxPauseMs = Math.max(counts.maxPauseMs, pause);
      longest = Math.max(longest, pause);
      if (!observed.delete(sent)) hooks.paused(pause, sent.detached.length);
    }
    return longest;
  };
  /** Batches whose pause the metrics took before their commit (see below). */
  const observed = new Set<Sent>();
  let acceptAgain: (() => void) | undefined;
  try {
    hooks.phase('phones');
    counts.tlsReconnects += await node.reconnectUnmovable();
    const groups = await batchesOf(node, node.gateway.phones());
    hooks.planned(groups.length + 1);
    // Phones that fit in one batch wait for the last one uncommitted: a successor that dies
    // before it has acked everything then drops nothing. More batches are committed as they
    // are acked, so no phone waits for the whole handoff (see the README: the window left).
    const commitEach = groups.length > 1;
    for (const group of groups) {
      await confirm(await dispatch(group.phones, group.pids, false));
      // As long again as the batch's phones were paused: the phones' frames that queued
      // meanwhile, in A and in B, are served before the next batch takes the CPU.
      // (at 5,000 phones, one run each: the longest wait 102 ms with this, 498 ms without).
      if (commitEach) await delay(await commitAcked());
    }
    hooks.phase('final');
    await settleStarting(node.gateway);
    acceptAgain = node.stopAccepting();
    // Phones that were still starting when the first batches left.
    counts.tlsReconnects += await node.reconnectUnmovable();
    const waiting = new Set(acked.flatMap(({ sent }) => sent.detached.map((x) => x.phone.socket)));
    const phones = node.gateway
      .phones()
      .filter((p) => !waiting.has(p.socket))
      .map((p) => ({ ...p, head: Buffer.alloc(0) }));
    const rest = [...rt.processes()].filter((p) => !p.dead).map((p) => p.self);
    // B takes A's metrics with the last batch: phones still waiting for their commit are
    // counted now, their pause up to here (short of the last batch's round trip).
    for (const { sent } of acked) {
      hooks.paused(Math.round(performance.now() - sent.startedAt), sent.detached.length);
      observed.add(sent);
    }
    await confirm(await dispatch(phones, rest, true));
    await commitAcked();
    // While the routes still reach B: what comes for its processes meanwhile follows them.
    await seat?.handOver();
    await inbox.take('done', ACK_TIMEOUT_MS, 'the successor takes over');
    return counts;
  } catch (err) {
    for (const { sent } of acked.splice(0)) takeBack(rt, sent);
    acceptAgain?.();
    throw err;
  } finally {
    stream.stop();
    rt.move.peer(undefined);
  }
}

const sizeOf = (batch: number): number => Math.min(BATCH_PHONES, FIRST_BATCH_PHONES * 2 ** batch);

/**
 * Phones grouped between two turns of the event loop: thousands of them in one turn would
 * stall the phones. A link made between two turns may tie processes of two batches: their
 * messages then cross between A and B (`dist`) until both have moved.
 */
const GROUPED_A_TURN = 250;

/** Phones grouped so that processes linked to each other move together, up to BATCH_PHONES a group. */
async function batchesOf(node: MovingNode, phones: readonly { socket: number; port: Pid; session: Pid }[]) {
  const { rt } = node;
  const seen = new Set<Pid>();
  const byPort = new Map(phones.map((p) => [p.port, p]));
  const groups: { phones: MovingPhone[]; pids: Pid[] }[] = [];
  let current: { phones: MovingPhone[]; pids: Pid[] } = { phones: [], pids: [] };
  for (const [i, phone] of phones.entries()) {
    if (i % GROUPED_A_TURN === GROUPED_A_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
    if (seen.has(phone.port)) continue;
    // What the phone is tied to (links and monitors both ways: its port and session, its call's
    // legs and services), supervisors and singletons left out: their traffic stays on one side.
    const todo: Pid[] = [phone.port, phone.session];
    while (todo.length > 0) {
      const pid = todo.pop() as Pid;
      if (seen.has(pid)) continue;
      const p = rt.lookup(pid);
      if (p === undefined || p.dead || node.last(p)) continue;
      seen.add(pid);
      current.pids.push(pid);
      const other = byPort.get(pid);
      if (other !== undefined) current.phones.push({ ...(other as MovingPhone), head: Buffer.alloc(0) });
      for (const tied of rt.move.neighbours(pid)) if (!seen.has(tied)) todo.push(tied);
    }
    if (current.phones.length >= (phones.length <= BATCH_PHONES ? BATCH_PHONES : sizeOf(groups.length))) {
      groups.push(current);
      current = { phones: [], pids: [] };
    }
  }
  if (current.pids.length > 0) groups.push(current);
  return groups;
}

/** Wait until no phone is between its upgrade and its session: those would be left behind. */
async function settleStarting(gateway: Gateway): Promise<void> {
  const deadline = Date.now() + STARTING_TIMEOUT_MS;
  while (gateway.starting > 0) {
    if (Date.now() > deadline) throw new Error(`${gateway.starting} phone(s) still starting`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function settleGates(gateway: Gateway, detached: readonly { phone: MovingPhone }[]): Promise<void> {
  const deadline = Date.now() + STARTING_TIMEOUT_MS;
  for (const { phone } of detached)
    while (gateway.checking(phone.socket)) {
      if (Date.now() > deadline)
        throw new Error(`phone ${phone.socket}'s registration is still being checked`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
}

/** Suspend, detach, capture, send. Anything that fails on the way is taken back here before it throws. */
async function send(
  node: MovingNode,
  channel: SuccessorChannel,
  stream: SocketStream,
  batch: number,
  phones: readonly MovingPhone[],
  pids: readonly Pid[],
  last: boolean,
  names: () => NamesChange,
): Promise<Sent> {
  const { rt } = node;
  // Read before the processes the metrics read (the journal) leave the table; every phone has moved by then.
  const metrics = last ? await node.metrics() : undefined;
  const sent: Sent = { suspended: [], captured: [], detached: [], startedAt: performance.now() };
  try {
    await Promise.all(
      pids.map(async (pid) => {
        try {
          await rt.sys.suspend(pid, SUSPEND_TIMEOUT_MS);
          sent.suspended.push(pid);
        } catch (err) {
          // Gone meanwhile (a phone that hung up): nothing to move.
          if (rt.isAlive(pid)) throw err;
        }
      }),
    );
    // Ports are suspended: nothing more is sent on the sockets, so the detach can flush.
    await Promise.all(
      phones.map(async (phone) => {
        const ws = node.sockets.get(phone.socket);
        if (ws === undefined) return;
        try {
          const d = await detachWebSocket(ws);
          sent.detached.push({ phone: { ...phone, head: d.head }, ws, d });
        } catch (err) {
          // Closed meanwhile: its processes move, and end there as they would have here.
          if (ws.readyState === ws.OPEN) throw err;
        }
      }),
    );
    // Reading has stopped: a register whose token is still being checked passes on (to its
    // suspended session's mailbox) or is refused here, then the phone's state is read as it is.
    await settleGates(node.gateway, sent.detached);
    for (const x of sent.detached) x.phone = { ...x.phone, ...node.gateway.phone(x.phone.socket) };
    const { images, failed } = rt.move.capture(sent.suspended);
    sent.captured.push(...images.map((i) => i.pid));
    const stuck = failed.find((f) => rt.isAlive(f.pid));
    if (stuck !== undefined)
      throw new Error(`process ${stuck.pid} could not be captured: ${String(stuck.error)}`);
    for (const { phone, d } of sent.detached)
      if (!stream.holds(phone.socket)) await channel.send({ type: 'socket', socket: phone.socket }, d.socket);
    const moving = sent.detached.map((x) => x.phone);
    const extra = last
      ? {
          last: {
            gateway: node.gateway.exportShared(),
            application: node.application(),
            metrics,
            node: node.carry(),
            releases: node.releases(),
          },
        }
      : {};
    await channel.send({ type: 'batch', batch, images, phones: moving, names: names(), ...extra });
    return sent;
  } catch (err) {
    takeBack(rt, sent);
    throw err;
  }
}

/** A's names as they changed since the batch before, all of them the first time: B keeps the rest. */
function namesSince(rt: Runtime): () => NamesChange {
  let sent = new Map<string, Pid>();
  return () => {
    const now = new Map(rt.move.names());
    const set = [...now].filter(([name, pid]) => sent.get(name) !== pid);
    const unset = [...sent.keys()].filter((name) => !now.has(name));
    sent = now;
    return { set, unset };
  };
}

/** Undo a batch in A: processes back in the table (resumed), sockets reattached. */
function takeBack(rt: Runtime, sent: Sent): void {
  rt.move.abort(sent.captured);
  const captured = new Set(sent.captured);
  rt.release.resume(sent.suspended.filter((pid) => !captured.has(pid)));
  for (const { ws, d } of sent.detached) reattachWebSocket(ws, d);
}
