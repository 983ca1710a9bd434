/**
 * Moving live processes to another runtime of the same node (a successor process taking
 * over), without their pids, names, links or monitors changing. Generic: it moves process
 * images and `DistMessage`s, and knows nothing of what carries them.
 *
 * The old runtime captures suspended processes (images out, records held out of the table,
 * everything addressed to them held in order); the new one restores the images (records
 * held, not yet running); the old one commits (records dropped, held messages and every
 * later one sent through the route) or aborts (held messages into the mailboxes, processes
 * resumed); then the new one starts them. While a handoff runs, each side reaches the
 * pids of this node that are not in its table through its peer route.
 */
import { errorFromNode, hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import type { AnyBehaviour } from './behaviour.ts';
import { type DistMessage, plainError } from './distribution.ts';
import { noproc } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode, pidSerial } from './pid.ts';
import { Process } from './process.ts';
import type { ProcessImage } from './process-image.ts';
import { isThenable } from './process-table.ts';
import type { TimerImage } from './timers.ts';

/** Where processes that moved, or pids this runtime does not have, are reached: the other runtime of the node. */
export interface MoveRoute {
  /** Carry `m` to the other runtime's `rt.move.receive`, in order. */
  send(m: DistMessage): void;
}

/** What `capture` took, and the processes it could not take (they stay here, and run on). */
export interface CaptureResult {
  images: ProcessImage[];
  failed: { pid: Pid; error: unknown }[];
}

/** Finds the behaviour object for an image's module and version (default: the module table's). */
export type CodeFinder = (module: string, version: string) => AnyBehaviour | undefined;

/** A process out of the table while a move decides where it lives. */
interface Held {
  readonly p: Process;
  /** Everything addressed to it since, in order (in a restored one: sent from this side). */
  readonly queue: DistMessage[];
  /** Restored here, not started: what the old side sent through the route, which goes first. */
  readonly early: DistMessage[] | null;
  /** Captured timers, to run again if the move is aborted. */
  readonly timers: readonly TimerImage[];
  readonly at: number;
}

export class Move {
  readonly #k: Kernel;
  readonly #held = new Map<Pid, Held>();
  /** Committed: these processes live behind their route now. */
  readonly #routed = new Map<Pid, MoveRoute>();
  #peer: MoveRoute | undefined = undefined;

  constructor(kernel: Kernel) {
    this.#k = kernel;
  }

  /**
   * Reach pids of this node missing from the table through `route`. Undefined: the other
   * side is gone (or done), and such pids are dead again, as without a move: so are the
   * ones committed to it, and calls, monitors and links waiting on them end with
   * `noconnection`, as when a node goes down.
   */
  setPeer(route: MoveRoute | undefined): void {
    this.#peer = route;
    if (route !== undefined) return;
    const k = this.#k;
    this.#routed.clear();
    const gone = (pid: Pid) => pidNode(pid) === k.node && !this.isHere(pid);
    k.calls.lost(gone);
    k.links.lost(gone);
  }

  /** Whether a pid of this node missing from the table is reached through the move. */
  reaches(pid: Pid): boolean {
    return this.#peer !== undefined || this.#held.has(pid) || this.#routed.has(pid);
  }

  /** In this runtime: in the table, or held by a move. */
  isHere(pid: Pid): boolean {
    return this.#k.table.has(pid) || this.#held.has(pid);
  }

  /**
   * Something for a pid of this node missing from the table: held with it, sent after it,
   * or sent to the peer. False when nobody takes it (the pid is dead).
   */
  forward(pid: Pid, m: DistMessage): boolean {
    const held = this.#held.get(pid);
    if (held !== undefined) {
      held.queue.push(m);
      return true;
    }
    const route = this.#routed.get(pid) ?? this.#peer;
    if (route === undefined) return false;
    route.send(m);
    return true;
  }

  /** A message for the other runtime itself (a call's answer): dropped when no handoff runs. */
  toPeer(m: DistMessage): void {
    this.#peer?.send(m);
  }

  // ---- the old runtime ----

  /** The processes `pid` is tied to: linked to it, monitored by it, or monitoring it. */
  neighbours(pid: Pid): Pid[] {
    const k = this.#k;
    const p = k.table.get(pid);
    if (p === undefined) return [];
    const { watching, watchers } = k.links.imageOf(p);
    return [...(p.links ?? []), ...watching.map((w) => w.target), ...watchers.map((w) => w.watcher)];
  }

  capture(pids: Iterable<Pid>): CaptureResult {
    const k = this.#k;
    const result: CaptureResult = { images: [], failed: [] };
    for (const pid of pids) {
      const p = k.table.get(pid);
      if (p === undefined) {
        result.failed.push({ pid, error: hotlineError('HOT_ERR_NOPROC', pid) });
        continue;
      }
      if (!p.suspended || p.busy) {
        result.failed.push({ pid, error: hotlineError('HOT_ERR_NOT_SUSPENDED', pid) });
        continue;
      }
      try {
        this.#handOver(p);
      } catch (err) {
        result.failed.push({ pid, error: hotlineErrorWithCause(err, 'HOT_ERR_HANDOVER_FAILED', pid) });
        this.#resume(p);
        continue;
      }
      result.images.push(this.#capture(p));
    }
    return result;
  }

  #handOver(p: Process): void {
    const handOver = p.behaviour.handOver;
    if (handOver === undefined) return;
    const next: unknown = handOver.call(p.behaviour, p.state, p);
    if (isThenable(next)) throw new TypeError(`handOver of ${p.behaviour.name} returned a promise`);
    if (this.#k.checkState) structuredClone(next);
    p.state = next;
  }

  #capture(p: Process): ProcessImage {
    const k = this.#k;
    const b = p.behaviour;
    const timers = k.timers.take(p);
    const image: ProcessImage = {
      pid: p.self,
      module: b.name,
      version: b.version,
      state: p.state,
      mailbox: p.mailbox === null ? [] : p.mailbox.entries(),
      timers,
      links: p.links === null ? [] : [...p.links],
      ...k.links.imageOf(p),
      trapExits: p.trapExits,
      ...(p.name === undefined ? {} : { name: p.name }),
      ...(p.parent === undefined ? {} : { parent: p.parent }),
      handled: p.handled,
      callsIn: p.callsIn === null ? [] : [...p.callsIn],
    };
    k.table.hold(p);
    this.#held.set(p.self, { p, queue: [], early: null, timers, at: k.clock.now() });
    return image;
  }

  /**
   * The captured `pids` live behind `route` from now on: their records go without exit
   * signals, DOWNs or name changes, and what was held for them, then everything later, is
   * sent through `route` in order.
   */
  commit(pids: Iterable<Pid>, route: MoveRoute): void {
    const k = this.#k;
    for (const held of this.#take(pids, false)) {
      const p = held.p;
      this.#routed.set(p.self, route);
      k.modules.release(p.behaviour);
      k.links.moved(p);
      k.calls.moved(p);
      p.end();
      for (const m of held.queue) route.send(m);
    }
  }

  /** Take the captured `pids` back: as if nothing happened, plus `takeOver`. */
  abort(pids: Iterable<Pid>): void {
    const k = this.#k;
    const batch = this.#take(pids, false);
    // All back in the table before any runs: an exit signal one of them gets reaches the others here.
    for (const held of batch) k.table.insert(held.p);
    for (const held of batch) {
      const elapsed = k.clock.now() - held.at;
      for (const t of held.timers) k.timers.rearm(held.p, t, Math.max(0, t.ms - elapsed));
      this.#run(held.p, held);
    }
  }

  // ---- the new runtime ----

  /**
   * Restore processes from images, held (not running) until `start`. All or nothing: an
   * image whose code is not loaded, whose pid is in use or whose name is taken refuses the lot.
   */
  restore(images: readonly ProcessImage[], findCode?: CodeFinder): void {
    const k = this.#k;
    const find = findCode ?? ((module, version) => k.modules.find(module, version));
    const code: AnyBehaviour[] = [];
    const pids = new Set<Pid>();
    for (const image of images) {
      const b = find(image.module, image.version);
      if (b === undefined)
        throw hotlineError('HOT_ERR_MOVE_CODE_MISSING', image.pid, image.module, image.version);
      if (this.isHere(image.pid) || pids.has(image.pid))
        throw hotlineError('HOT_ERR_MOVE_PID_TAKEN', image.pid);
      pids.add(image.pid);
      if (image.name !== undefined) k.registry.check(image.name);
      code.push(b);
    }
    for (const [i, image] of images.entries()) this.#restore(image, code[i] as AnyBehaviour);
  }

  #restore(image: ProcessImage, b: AnyBehaviour): void {
    const k = this.#k;
    // A moved process keeps its pid, and so the number the running record names it by.
    const p = new Process(k, image.pid, pidSerial(image.pid), b, image.parent);
    p.restored(image.state, image.trapExits, image.handled);
    k.modules.retain(b);
    for (const m of image.mailbox) p.deliver(m.kind, m.message, m.from);
    this.#held.set(p.self, { p, queue: [], early: [], timers: [], at: k.clock.now() });
    if (image.name !== undefined) {
      k.registry.adopt(image.name, p.self);
      p.named(image.name);
    }
    for (const pid of image.links) p.addLink(pid);
    k.links.adopt(p, image);
    for (const ref of image.callsIn) k.calls.adopt(ref, p, null);
    // The time in transit is lost: a timer fires that much late, never early.
    for (const t of image.timers) k.timers.rearm(p, t, t.ms);
  }

  /**
   * Run restored processes, once the old side has committed them: what it sent first,
   * then what this side sent while they were held, then `takeOver`.
   */
  start(pids: Iterable<Pid>): void {
    const k = this.#k;
    const batch = this.#take(pids, true);
    for (const held of batch) k.table.insert(held.p);
    for (const held of batch) {
      for (const m of held.early as DistMessage[]) this.#apply(held.p, m);
      this.#run(held.p, held);
    }
  }

  /** Drop restored processes that never started (the old side took them back). */
  discard(pids: Iterable<Pid>): void {
    const k = this.#k;
    for (const held of this.#take(pids, true)) {
      const p = held.p;
      k.modules.release(p.behaviour);
      if (p.name !== undefined) k.registry.forget(p.name, p.self);
      if (p.timers !== null) for (const ref of [...p.timers]) k.timers.cancel(ref);
      k.links.discarded(p);
      k.calls.moved(p);
      p.end();
      // Sent from this side while it was held: it lives on the other side again.
      for (const m of held.queue) this.toPeer(m);
    }
  }

  /** The held processes of `pids` (captured ones, or restored ones), out of the hold; all or nothing. */
  #take(pids: Iterable<Pid>, restored: boolean): Held[] {
    const list = [...pids];
    const taken: Held[] = [];
    for (const pid of list) {
      const held = this.#held.get(pid);
      if (held === undefined || (held.early !== null) !== restored)
        throw hotlineError('HOT_ERR_MOVE_NOT_HELD', pid);
      taken.push(held);
    }
    for (const pid of list) this.#held.delete(pid);
    return taken;
  }

  /** Back in the table: apply what waited, run takeOver, resume. */
  #run(p: Process, held: Held): void {
    for (const m of held.queue) this.#apply(p, m);
    const takeOver = p.behaviour.takeOver;
    if (takeOver !== undefined && !p.dead) {
      try {
        const next: unknown = takeOver.call(p.behaviour, p.state, p);
        if (isThenable(next)) throw new TypeError(`takeOver of ${p.behaviour.name} returned a promise`);
        if (this.#k.checkState) structuredClone(next);
        p.state = next;
      } catch (err) {
        // As a callback that throws: the process crashes, and its links and monitors hear of it.
        this.#k.table.crash(p, err);
        return;
      }
    }
    this.#resume(p);
  }

  #resume(p: Process): void {
    const waiters = p.takeSuspendWaiters();
    if (waiters !== null) for (const w of waiters) w.resolve();
    if (p.resume()) this.#k.dispatch.wake(p);
  }

  // ---- what the other runtime sent ----

  /** A message the other runtime's route sent: for a process here, held here, moved on, or gone. */
  receive(m: DistMessage): void {
    const k = this.#k;
    if (m.type === 'reply') {
      k.calls.settle(m.ref)?.resolve(m.value);
      return;
    }
    if (m.type === 'reply_error') {
      k.calls.settle(m.ref)?.reject(errorFromNode(m.error.code, m.error.message));
      return;
    }
    const pid = addressee(m, k);
    if (pid === undefined) return;
    const p = k.table.get(pid);
    if (p !== undefined) return this.#apply(p, m);
    const held = this.#held.get(pid);
    if (held !== undefined) {
      (held.early ?? held.queue).push(m);
      return;
    }
    const route = this.#routed.get(pid);
    if (route !== undefined) return route.send(m);
    this.#gone(m);
  }

  /** What `m` does to `p`, which is here (also how held messages are let in). */
  #apply(p: Process, m: DistMessage): void {
    const k = this.#k;
    switch (m.type) {
      case 'send':
        return k.dispatch.enqueue(p, m.kind, m.message, null);
      case 'call':
        k.calls.adopt(m.ref, p, m.timeoutMs);
        return k.dispatch.enqueue(p, 'call', m.message, { node: k.node, ref: m.ref });
      case 'link':
        return p.addLink(m.from);
      case 'unlink':
        return p.removeLink(m.from);
      case 'monitor':
        return k.links.attachWatcher(p, m.ref, m.watcher);
      case 'demonitor':
        return k.links.detachWatcher(p, m.ref);
      case 'exit':
        p.removeLink(m.from);
        return k.table.signal(p, m.from, m.reason);
      case 'down':
        return k.links.downFrom(m);
      default:
        return;
    }
  }

  /** `m` names a pid that is nowhere: answer as a dead process does. */
  #gone(m: DistMessage): void {
    switch (m.type) {
      case 'call':
        return this.#answer({
          type: 'reply_error',
          ref: m.ref,
          error: plainError(hotlineError('HOT_ERR_NOPROC', m.to)),
        });
      case 'link':
        return this.#answer({ type: 'exit', from: m.to, to: m.from, reason: noproc });
      case 'monitor':
        return this.#answer({ type: 'down', ref: m.ref, pid: m.target, reason: noproc });
      default:
        return;
    }
  }

  /**
   * The answer to a message that may have come here by way of the other side (it routed
   * here a pid that had moved here and ended): to the asker, on whichever side it is.
   */
  #answer(m: DistMessage): void {
    const k = this.#k;
    const asker = addressee(m, k);
    const here = m.type === 'reply_error' ? k.calls.has(m.ref) : asker !== undefined && this.isHere(asker);
    if (here) this.receive(m);
    else this.toPeer(m);
  }
}

/** The process a message is for: a DOWN is for whoever holds the monitor it names. */
function addressee(m: DistMessage, k: Kernel): Pid | undefined {
  switch (m.type) {
    case 'send':
    case 'call':
    case 'link':
    case 'unlink':
    case 'exit':
      return m.to;
    case 'monitor':
    case 'demonitor':
      return m.target;
    case 'down':
      return k.links.watcherOf(m.ref);
    default:
      return undefined;
  }
}
