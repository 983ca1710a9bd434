/**
 * A node's process runtime: the process table, messaging, links and monitors, exit
 * signals, timers and the registry. Generic: it runs any behaviour and knows nothing of calls.
 */
import { performance } from 'node:perf_hooks';
import { errorFromNode, hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import { application } from './application.ts';
import type { AnyBehaviour, From, MessageMap, MonitorRef, SpawnOptions, TimerRef } from './behaviour.ts';
import { type Clock, systemClock } from './clock.ts';
import {
  type DistMessage,
  type Distribution,
  type NameDirectory,
  plainError,
  plainReason,
} from './distribution.ts';
import { dynamicSupervisor } from './dynamic-supervisor.ts';
import { RuntimeEvents } from './events.ts';
import { describeReason, type ExitReason, errorReason, killed, noconnection, noproc } from './exit-reason.ts';
import type { Kind, Mailbox } from './mailbox.ts';
import { ModuleTable } from './module-table.ts';
import { formatPid, type Pid, pidNode } from './pid.ts';
import { Process } from './process.ts';
import { Registry } from './registry.ts';
import { ReleaseApi } from './release-api.ts';
import { Scheduler } from './scheduler.ts';
import { supervisor } from './supervisor.ts';
import { Sys } from './sys.ts';
import { Timers } from './timers.ts';

export interface RuntimeOptions {
  /** Node name, part of every pid. */
  node?: string;
  clock?: Clock;
  /** Time budget of one scheduler slice before yielding to I/O. */
  sliceMs?: number;
  /** Check that state survives structuredClone after init and every callback (tests turn it on). */
  checkState?: boolean;
  /** Default call timeout, as gen_server's 5 s. */
  callTimeoutMs?: number;
  /** Told how long each message of one module took to handle (its synchronous part), for metrics. */
  turnObserver?: { module: string; observe(ms: number, version: string): void };
}

/**
 * Catches crashes of processes running code under watch (the release handler sets one
 * while a new release is on probation). Checked for every message: `covers` must be cheap.
 */
export interface CrashGuard {
  covers(behaviour: AnyBehaviour): boolean;
  /**
   * A covered process threw from a synchronous callback. Its state and the message are back
   * as before the message, and it is suspended. True: the guard takes it from here (and
   * resumes it); false: it crashes as it would have without a guard.
   */
  caught(pid: Pid, error: unknown): boolean;
}

/** Messages one process may handle in one scheduler turn (its reduction budget). */
export const MESSAGES_PER_TURN = 8;

export interface RuntimeSpawnOptions extends SpawnOptions {
  parent?: Pid;
}

/** A monitor; `theirRef` is set when the watcher is on another node (the ref its DOWN must name). */
interface Monitor {
  watcher: Pid;
  target: Pid;
  theirRef?: number;
}

interface PendingCall {
  target: Pid;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: unknown;
}

/** No snapshot was taken: the process is not under a guard (a state may itself be undefined). */
const NO_SNAPSHOT = Symbol('no snapshot');

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';

export class Runtime {
  readonly node: string;
  readonly clock: Clock;
  readonly checkState: boolean;
  /** Set by the release handler while a release is under watch. */
  guard: CrashGuard | undefined = undefined;
  readonly callTimeoutMs: number;
  readonly events = new RuntimeEvents();
  readonly modules = new ModuleTable();
  readonly sys: Sys = new Sys(this);
  /** What the release layer may do to processes (it gets no Process). */
  readonly release: ReleaseApi = new ReleaseApi(this);
  readonly scheduler: Scheduler<Process>;
  readonly #procs = new Map<Pid, Process>();
  readonly #registry = new Registry();
  readonly #timers: Timers;
  readonly #pending = new Map<number, PendingCall>();
  readonly #monitors = new Map<MonitorRef, Monitor>();
  readonly #observe: RuntimeOptions['turnObserver'];
  /** Set when the node is in a cluster: pids of other nodes are reached through it. */
  #dist: Distribution | undefined = undefined;
  #names: NameDirectory | undefined = undefined;
  #nextId = 0;
  #nextRef = 0;

  constructor(options: RuntimeOptions = {}) {
    this.node = options.node ?? 'nonode';
    this.clock = options.clock ?? systemClock;
    this.checkState = options.checkState ?? false;
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.#timers = new Timers(this.clock);
    this.#observe = options.turnObserver;
    this.scheduler = new Scheduler((p) => this.#turn(p), options.sliceMs ?? 4);
    this.modules.load(supervisor);
    this.modules.load(dynamicSupervisor);
    this.modules.load(application);
  }

  // ---- processes ----

  spawn(module: string | AnyBehaviour, args?: unknown, options: RuntimeSpawnOptions = {}): Pid {
    const behaviour = typeof module === 'string' ? this.modules.get(module) : module;
    // Refuse a bad or taken name before anything exists: no process, no events.
    if (options.name !== undefined) this.#registry.check(options.name);
    const pid = formatPid(++this.#nextId, this.node);
    const p = new Process(this, pid, behaviour, options.parent);
    this.#procs.set(pid, p);
    this.modules.retain(behaviour);
    if (options.link && options.parent) this.link(options.parent, pid);
    if (options.name !== undefined) this.register(options.name, pid);
    this.events.emit('spawn', {
      pid,
      module: behaviour.name,
      version: behaviour.version,
      parent: options.parent,
    });
    p.busy = true;
    let result: unknown;
    try {
      result = behaviour.init(args as never, p);
    } catch (err) {
      // The caller learns of the failure from the throw; it gets no exit signal as well.
      this.#unlinkQuietly(p, options.parent);
      this.#finalize(p, errorReason(err));
      throw hotlineErrorWithCause(err, 'HOT_ERR_INIT_FAILED', behaviour.name);
    }
    if (options.restartOf) {
      this.events.emit('restart', { ...options.restartOf, pid, module: behaviour.name });
    }
    if (isThenable(result)) {
      result.then(
        (state) => this.#initDone(p, state),
        (err) => {
          if (!p.dead) this.#finalize(p, errorReason(err));
        },
      );
      return pid;
    }
    if (this.checkState && !this.#cloneable(p, result)) {
      const err = hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', 'init');
      this.#unlinkQuietly(p, options.parent);
      this.#finalize(p, errorReason(err));
      throw hotlineErrorWithCause(err, 'HOT_ERR_INIT_FAILED', behaviour.name);
    }
    this.#initDone(p, result);
    return pid;
  }

  /** spawn() on behalf of a process: its children name it as their parent. */
  spawnFrom(parent: Process, module: string, args: unknown, options: SpawnOptions): Pid {
    return this.spawn(module, args, { ...options, parent: parent.self });
  }

  #initDone(p: Process, state: unknown): void {
    if (p.dead) return;
    p.state = state;
    p.busy = false;
    p.initializing = false;
    if (this.checkState && !this.#cloneable(p, state)) {
      // A failed init, like a rejected one: the process never ran, so terminate is not called.
      this.#finalize(p, errorReason(hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', 'init')));
      return;
    }
    this.#settled(p);
  }

  /** Internal: the live process behind a local pid. */
  lookup(pid: Pid): Process | undefined {
    return this.#procs.get(pid);
  }

  isAlive(pid: Pid): boolean {
    return this.#procs.has(pid);
  }

  processes(): IterableIterator<Process> {
    return this.#procs.values();
  }

  get processCount(): number {
    return this.#procs.size;
  }

  /** Resolves when no process is runnable. */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  // ---- messaging ----

  /** Plain message, handled by handleInfo. Sending to a dead pid is not an error (as in OTP). */
  send(to: Pid | string, message: unknown): void {
    this.#deliver(to, 'info', message);
  }

  cast<M extends MessageMap>(to: Pid<M> | string, message: M['cast']): void {
    this.#deliver(to, 'cast', message);
  }

  call<M extends MessageMap>(
    to: Pid<M> | string,
    message: M['call'],
    timeoutMs = this.callTimeoutMs,
  ): Promise<M['reply']> {
    let pid: Pid;
    let target: Process | undefined;
    let node: string | undefined;
    try {
      pid = this.#resolve(to);
      target = this.#procs.get(pid);
      if (target === undefined) node = this.#remoteNode(pid);
      if (target === undefined && node === undefined) throw hotlineError('HOT_ERR_NOPROC', pid);
    } catch (err) {
      return Promise.reject(err);
    }
    const ref = ++this.#nextRef;
    return new Promise((resolve, reject) => {
      // An infinite timeout waits for ever (setTimeout would make it 1 ms).
      const finite = Number.isFinite(timeoutMs);
      const timer = finite
        ? this.clock.setTimeout(() => {
            if (this.#settleCall(ref)) reject(hotlineError('HOT_ERR_CALL_TIMEOUT', pid, timeoutMs));
          }, timeoutMs)
        : undefined;
      this.#pending.set(ref, { target: pid, resolve, reject, timer });
      if (target === undefined) {
        const call: DistMessage = {
          type: 'call',
          to: pid,
          message,
          ref,
          timeoutMs: finite ? timeoutMs : null,
        };
        return (this.#dist as Distribution).send(node as string, call);
      }
      if (target.callsIn === null) target.callsIn = new Set();
      target.callsIn.add(ref);
      this.#enqueue(target, 'call', message, { node: this.node, ref });
    });
  }

  /** Answer a call, now or later (deferred reply). A reply nobody waits for any more is dropped. */
  reply(from: From, value: unknown): void {
    const pending = this.#settleCall(from.ref);
    pending?.resolve(value);
  }

  #settleCall(ref: number): PendingCall | undefined {
    const pending = this.#pending.get(ref);
    if (pending === undefined) return undefined;
    this.#pending.delete(ref);
    if (pending.timer !== undefined) this.clock.clearTimeout(pending.timer);
    this.#procs.get(pending.target)?.callsIn?.delete(ref);
    return pending;
  }

  /** Sends to a dead local pid are dropped, as in OTP; to another node's, they go through the distribution. */
  #deliver(to: Pid | string, kind: 'cast' | 'info', message: unknown): void {
    const pid = this.#resolve(to);
    const p = this.#procs.get(pid);
    if (p !== undefined) return this.#enqueue(p, kind, message, null);
    const node = this.#remoteNode(pid);
    if (node !== undefined) (this.#dist as Distribution).send(node, { type: 'send', to: pid, kind, message });
  }

  /** A pid, or the pid a registered name stands for: an unknown name is an error. */
  #resolve(to: Pid | string): Pid {
    if (to.charCodeAt(0) === 60 /* < */) return to as Pid;
    const pid = this.whereis(to);
    if (pid === undefined) throw hotlineError('HOT_ERR_NOPROC', to);
    return pid;
  }

  /** The node of a pid not in the process table, when that is another node; unreachable without a cluster. */
  #remoteNode(pid: Pid): string | undefined {
    const node = pidNode(pid);
    if (node === undefined || node === this.node) return undefined;
    if (this.#dist === undefined) throw hotlineError('HOT_ERR_NODE_UNREACHABLE', node);
    return node;
  }

  #enqueue(p: Process, kind: Kind, message: unknown, from: From | null): void {
    p.deliver(kind, message, from);
    if (p.runnable && !p.initializing) this.scheduler.enqueue(p);
  }

  /** Make the process runnable again if it has work (after resume, or an async callback). */
  wake(p: Process): void {
    if (p.runnable && !p.initializing && p.mailboxLength > 0) this.scheduler.enqueue(p);
  }

  // ---- one scheduler turn ----

  /**
   * A turn handles up to MESSAGES_PER_TURN messages of one process, as Erlang's reduction
   * budget does: a server process with a long mailbox (a supervisor, the journal) drains it
   * in far fewer trips round a busy run queue, and a process with one message is no worse off.
   */
  #turn(p: Process): number {
    let n = 0;
    while (n < MESSAGES_PER_TURN && p.runnable && !p.initializing && p.mailboxLength > 0) {
      // Only the observed module pays for the clock reads.
      if (this.#observe === undefined || p.behaviour.name !== this.#observe.module) this.#handleOne(p);
      else {
        // The code that handles the message, even if the message is what moves it on.
        const version = p.behaviour.version;
        const t0 = performance.now();
        this.#handleOne(p);
        this.#observe.observe(performance.now() - t0, version);
      }
      n++;
    }
    this.wake(p);
    return n;
  }

  #handleOne(p: Process): void {
    const mailbox = p.mailbox as Mailbox;
    const kind = mailbox.kind;
    const message = mailbox.message;
    const from = mailbox.from;
    mailbox.drop();
    p.handled++;
    const b = p.behaviour;
    // Code under watch after an install: keep the state as it was, to undo a crash.
    let snapshot: unknown = NO_SNAPSHOT;
    if (this.guard?.covers(b)) {
      try {
        snapshot = structuredClone(p.state);
      } catch {
        // A state that cannot be copied cannot be put back: this message runs unguarded
        // (throwing here would escape the scheduler and end the node).
      }
    }
    let result: unknown;
    try {
      switch (kind) {
        case 'cast':
          if (b.handleCast === undefined) return this.#unhandled(p, 'cast');
          result = b.handleCast(message, p.state, p);
          break;
        case 'call':
          if (b.handleCall === undefined) {
            // The process handles the call by refusing it, and takes its next message as usual.
            return this.#failCall(from as From, hotlineError('HOT_ERR_UNHANDLED_CALL', b.name));
          }
          result = b.handleCall(message, from as From, p.state, p);
          break;
        case 'info':
          if (b.handleInfo === undefined) return this.#unhandled(p, 'info');
          result = b.handleInfo(message, p.state, p);
          break;
      }
    } catch (err) {
      if (snapshot === NO_SNAPSHOT || !this.#catchCrash(p, kind, message, from, snapshot, err))
        this.#crash(p, err);
      return;
    }
    if (isThenable(result)) {
      p.busy = true;
      result.then(
        (r) => {
          if (p.dead) return;
          p.busy = false;
          if (this.#apply(p, kind, from, r)) this.#settled(p);
        },
        (err) => {
          if (p.dead) return;
          p.busy = false;
          this.#crash(p, err);
        },
      );
      return;
    }
    this.#apply(p, kind, from, result);
  }

  /**
   * A guarded process threw: put its state and the message back, suspend it, and let the
   * guard decide (it rolls the code back and resumes the process, which then handles the
   * message on the old code). Effects the failed callback had already caused stay done.
   */
  #catchCrash(
    p: Process,
    kind: Kind,
    message: unknown,
    from: From | null,
    snapshot: unknown,
    err: unknown,
  ): boolean {
    const guard = this.guard;
    // Ended by its own callback (an exit signal to itself) before the throw: nothing to put back.
    if (guard === undefined || p.dead || p.exiting) return false;
    p.state = snapshot;
    (p.mailbox as Mailbox).unshift(kind, message, from);
    p.suspended = true;
    let taken = false;
    try {
      taken = guard.caught(p.self, err);
    } catch {
      taken = false;
    }
    if (taken) return true;
    // The guard declined: the message is consumed by the crash, as without a guard.
    (p.mailbox as Mailbox).drop();
    p.suspended = false;
    return false;
  }

  #unhandled(p: Process, kind: 'cast' | 'info'): void {
    this.events.emit('unhandled', { pid: p.self, module: p.behaviour.name, kind });
  }

  #failCall(from: From, err: unknown): void {
    this.#settleCall(from.ref)?.reject(err);
  }

  /** Apply a callback's result. False when the process ended. */
  #apply(p: Process, kind: Kind, from: From | null, result: unknown): boolean {
    if (p.dead || p.exiting) return false;
    // Plain locals, not a record of the parts: this runs for every message.
    let type: unknown;
    let state: unknown;
    let replyValue: unknown;
    let reason: unknown;
    let hasReply = false;
    if (typeof result === 'object' && result !== null) {
      try {
        // Read each part once: a result with throwing getters must crash only this process.
        const o = result as Record<string, unknown>;
        type = o.type;
        state = o.state;
        if (type !== 'noreply') {
          replyValue = o.reply;
          reason = o.reason;
          hasReply = 'reply' in o;
        }
      } catch (err) {
        this.#crash(p, err);
        return false;
      }
    }
    const valid =
      type === 'noreply' ||
      (type === 'reply' && kind === 'call') ||
      (type === 'stop' && typeof (reason as ExitReason | undefined)?.type === 'string');
    if (!valid) {
      const callback = { cast: 'handleCast', call: 'handleCall', info: 'handleInfo' }[kind];
      this.#crash(p, hotlineError('HOT_ERR_BAD_RETURN', callback, describeValue(result)));
      return false;
    }
    p.state = state;
    if (this.checkState && !this.#cloneable(p, state)) {
      this.#crash(p, hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', kind));
      return false;
    }
    if (type === 'reply' || (type === 'stop' && kind === 'call' && hasReply))
      this.reply(from as From, replyValue);
    if (type === 'stop') {
      this.#terminate(p, reason as ExitReason);
      return false;
    }
    return true;
  }

  /** An async callback finished: hand the process to a waiting suspend, or run it on. */
  #settled(p: Process): void {
    if (p.suspendWaiters !== null) {
      p.suspended = true;
      const waiters = p.suspendWaiters;
      p.suspendWaiters = null;
      for (const w of waiters) w.resolve();
      return;
    }
    this.wake(p);
  }

  #cloneable(_p: Process, state: unknown): boolean {
    try {
      structuredClone(state);
      return true;
    } catch {
      return false;
    }
  }

  // ---- ending processes ----

  #crash(p: Process, err: unknown): void {
    this.#terminate(p, errorReason(err));
  }

  /** End through terminate(): used for stop results and crashes. */
  #terminate(p: Process, reason: ExitReason): void {
    if (p.dead || p.exiting) return;
    p.exiting = true;
    const terminate = p.behaviour.terminate;
    if (terminate !== undefined) {
      try {
        const r = terminate.call(p.behaviour, reason, p.state, p);
        if (isThenable(r)) {
          const done = () => this.#finalize(p, reason);
          r.then(done, done);
          return;
        }
      } catch {
        // terminate failing changes nothing: the process ends with the reason it had.
      }
    }
    this.#finalize(p, reason);
  }

  #finalize(p: Process, reason: ExitReason): void {
    if (p.dead) return;
    p.dead = true;
    p.exiting = false;
    this.#procs.delete(p.self);
    this.modules.release(p.behaviour);
    if (p.name !== undefined) {
      this.#registry.unregister(p.name, p.self);
      if (this.#names?.covers(p.name)) this.#names.unregister(p.name, p.self);
    }
    if (p.timers !== null) for (const ref of p.timers) this.#timers.cancel(ref);
    if (p.callsIn !== null) {
      const why = describeReason(reason);
      for (const ref of p.callsIn)
        this.#failCall({ node: this.node, ref }, hotlineError('HOT_ERR_CALL_TARGET_EXITED', p.self, why));
    }
    p.mailbox = null;
    if (p.watching !== null) for (const ref of p.watching) this.demonitor(ref);
    if (p.suspendWaiters !== null) {
      for (const w of p.suspendWaiters) w.reject(hotlineError('HOT_ERR_NOPROC', p.self));
      p.suspendWaiters = null;
    }
    if (p.exitWaiters !== null) {
      for (const w of p.exitWaiters) w(reason);
      p.exitWaiters = null;
    }
    this.events.emit('exit', { pid: p.self, module: p.behaviour.name, version: p.behaviour.version, reason });
    if (p.watchers !== null) {
      for (const ref of p.watchers) {
        const m = this.#monitors.get(ref);
        this.#monitors.delete(ref);
        const watcher = m && this.#procs.get(m.watcher);
        if (watcher) {
          watcher.watching?.delete(ref);
          this.#enqueue(watcher, 'info', { type: 'DOWN', ref, pid: p.self, reason }, null);
        } else if (m?.theirRef !== undefined) {
          const down: DistMessage = {
            type: 'down',
            ref: m.theirRef,
            pid: p.self,
            reason: plainReason(reason),
          };
          this.#dist?.send(pidNode(m.watcher) as string, down);
        }
      }
    }
    if (p.links !== null) {
      for (const pid of p.links) {
        const other = this.#procs.get(pid);
        if (other === undefined) {
          this.#toNodeOf(pid, { type: 'exit', from: p.self, to: pid, reason: plainReason(reason) });
          continue;
        }
        other.links?.delete(p.self);
        this.#signal(other, p.self, reason);
      }
    }
  }

  /** Deliver an exit signal, as OTP does: kill is untrappable, normal is ignored unless trapped. */
  #signal(target: Process, from: Pid, reason: ExitReason): void {
    if (target.dead) return;
    if (reason.type === 'kill') return this.#finalize(target, killed);
    if (target.trapExits) {
      this.#enqueue(target, 'info', { type: 'EXIT', from, reason }, null);
      return;
    }
    if (reason.type === 'normal') return;
    this.#finalize(target, reason);
  }

  /** Send an exit signal to `pid` (from `from`, or from outside any process). */
  exit(pid: Pid, reason: ExitReason, from: Pid = `<0@${this.node}>` as Pid): void {
    const p = this.#procs.get(pid);
    if (p !== undefined) this.#signal(p, from, reason);
    else this.#toNodeOf(pid, { type: 'exit', from, to: pid, reason: plainReason(reason) });
  }

  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined> {
    const p = this.#procs.get(pid);
    if (p === undefined) return Promise.resolve(noproc);
    return new Promise((resolve) => {
      let timer: unknown;
      const waiter = (reason: ExitReason) => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        resolve(reason);
      };
      if (p.exitWaiters === null) p.exitWaiters = [];
      p.exitWaiters.push(waiter);
      if (Number.isFinite(timeoutMs)) {
        timer = this.clock.setTimeout(() => {
          const list = p.exitWaiters;
          const i = list?.indexOf(waiter) ?? -1;
          if (i >= 0) list?.splice(i, 1);
          resolve(undefined);
        }, timeoutMs);
      }
    });
  }

  #unlinkQuietly(p: Process, other: Pid | undefined): void {
    if (other !== undefined) this.unlink(p.self, other);
  }

  // ---- links and monitors ----

  /** Link two processes. Linking to a process that is gone signals `noproc` to `a`. */
  link(a: Pid, b: Pid): void {
    const pa = this.#procs.get(a);
    if (pa === undefined || a === b) return;
    const pb = this.#procs.get(b);
    if (pb === undefined && !this.#toNodeOf(b, { type: 'link', from: a, to: b }))
      return this.#signal(pa, b, noproc);
    if (pa.links === null) pa.links = new Set();
    pa.links.add(b);
    if (pb === undefined) return;
    if (pb.links === null) pb.links = new Set();
    pb.links.add(a);
  }

  unlink(a: Pid, b: Pid): void {
    this.#procs.get(a)?.links?.delete(b);
    const pb = this.#procs.get(b);
    if (pb !== undefined) pb.links?.delete(a);
    else this.#toNodeOf(b, { type: 'unlink', from: a, to: b });
  }

  /** Monitor `target` from `watcher`: a DOWN info message follows its end (at once if gone). */
  monitor(watcher: Pid, target: Pid): MonitorRef {
    const ref = ++this.#nextRef;
    const pw = this.#procs.get(watcher);
    const pt = this.#procs.get(target);
    if (pw === undefined) return ref;
    if (pt === undefined && !this.#toNodeOf(target, { type: 'monitor', watcher, target, ref })) {
      this.#enqueue(pw, 'info', { type: 'DOWN', ref, pid: target, reason: noproc }, null);
      return ref;
    }
    this.#monitors.set(ref, { watcher, target });
    if (pw.watching === null) pw.watching = new Set();
    pw.watching.add(ref);
    if (pt === undefined) return ref;
    if (pt.watchers === null) pt.watchers = new Set();
    pt.watchers.add(ref);
    return ref;
  }

  demonitor(ref: MonitorRef): void {
    const m = this.#monitors.get(ref);
    if (m === undefined) return;
    this.#monitors.delete(ref);
    this.#procs.get(m.watcher)?.watching?.delete(ref);
    const pt = this.#procs.get(m.target);
    if (pt !== undefined) pt.watchers?.delete(ref);
    else if (m.theirRef === undefined) this.#toNodeOf(m.target, { type: 'demonitor', target: m.target, ref });
  }

  // ---- other nodes ----

  /** Join a cluster: pids of other nodes are reached through `dist`, names it covers through `names`. */
  distribute(dist: Distribution, names?: NameDirectory): void {
    this.#dist = dist;
    this.#names = names;
  }

  /** Send `message` to the node of `pid` when that is another node; false when it is not. */
  #toNodeOf(pid: Pid, message: DistMessage): boolean {
    if (this.#dist === undefined) return false;
    const node = pidNode(pid);
    if (node === undefined || node === this.node) return false;
    this.#dist.send(node, message);
    return true;
  }

  /** A message from the runtime of node `from`. Pids it names as ours that are not (any more) get nothing. */
  receive(from: string, m: DistMessage): void {
    switch (m.type) {
      case 'send': {
        const p = this.#procs.get(m.to);
        if (p !== undefined) this.#enqueue(p, m.kind, m.message, null);
        return;
      }
      case 'call':
        return this.#callFor(from, m);
      case 'reply':
        this.#settleFrom(from, m.ref)?.resolve(m.value);
        return;
      case 'reply_error':
        this.#settleFrom(from, m.ref)?.reject(errorFromNode(m.error.code, m.error.message));
        return;
      case 'monitor':
        return this.#monitorFor(from, m);
      case 'demonitor': {
        const watchers = this.#procs.get(m.target)?.watchers;
        for (const ref of watchers ?? []) {
          const mon = this.#monitors.get(ref);
          if (mon?.theirRef === m.ref && pidNode(mon.watcher) === from) {
            this.#monitors.delete(ref);
            watchers?.delete(ref);
          }
        }
        return;
      }
      case 'down': {
        const mon = this.#monitors.get(m.ref);
        if (mon === undefined || mon.target !== m.pid) return;
        this.#monitors.delete(m.ref);
        const watcher = this.#procs.get(mon.watcher);
        watcher?.watching?.delete(m.ref);
        if (watcher)
          this.#enqueue(watcher, 'info', { type: 'DOWN', ref: m.ref, pid: m.pid, reason: m.reason }, null);
        return;
      }
      case 'link': {
        const p = this.#procs.get(m.to);
        if (p === undefined)
          return this.#dist?.send(from, { type: 'exit', from: m.to, to: m.from, reason: noproc });
        if (p.links === null) p.links = new Set();
        p.links.add(m.from);
        return;
      }
      case 'unlink':
        this.#procs.get(m.to)?.links?.delete(m.from);
        return;
      case 'exit': {
        const p = this.#procs.get(m.to);
        if (p === undefined) return;
        p.links?.delete(m.from);
        return this.#signal(p, m.from, m.reason);
      }
    }
  }

  /** Settle a call to `node` by its ref: only that node answers it. */
  #settleFrom(node: string, ref: number): PendingCall | undefined {
    const pending = this.#pending.get(ref);
    return pending !== undefined && pidNode(pending.target) === node ? this.#settleCall(ref) : undefined;
  }

  /** A call from another node, made here on its behalf: the reply (or the failure) goes back by ref. */
  #callFor(from: string, m: Extract<DistMessage, { type: 'call' }>): void {
    const answer = (message: DistMessage) => this.#dist?.send(from, message);
    // Only our own pids: a name or another node's pid would send the call on elsewhere.
    const call =
      pidNode(m.to) === this.node
        ? this.call(m.to, m.message, m.timeoutMs ?? Number.POSITIVE_INFINITY)
        : Promise.reject(hotlineError('HOT_ERR_NOPROC', m.to));
    call.then(
      (value) => answer({ type: 'reply', ref: m.ref, value }),
      (err) => answer({ type: 'reply_error', ref: m.ref, error: plainError(err) }),
    );
  }

  #monitorFor(from: string, m: Extract<DistMessage, { type: 'monitor' }>): void {
    const pt = this.#procs.get(m.target);
    if (pt === undefined) {
      this.#dist?.send(from, { type: 'down', ref: m.ref, pid: m.target, reason: noproc });
      return;
    }
    const ref = ++this.#nextRef;
    this.#monitors.set(ref, { watcher: m.watcher, target: m.target, theirRef: m.ref });
    if (pt.watchers === null) pt.watchers = new Set();
    pt.watchers.add(ref);
  }

  /**
   * `node` is gone: calls to it fail, monitors on its processes fire and links to them break
   * with `noconnection`, and what it held on ours is dropped. A rare event: it scans.
   */
  nodeDown(node: string): void {
    for (const [ref, pending] of this.#pending) {
      if (pidNode(pending.target) === node)
        this.#settleCall(ref)?.reject(
          hotlineError('HOT_ERR_CALL_TARGET_EXITED', pending.target, 'noconnection'),
        );
    }
    for (const [ref, m] of this.#monitors) {
      if (pidNode(m.watcher) === node) {
        this.#monitors.delete(ref);
        this.#procs.get(m.target)?.watchers?.delete(ref);
      } else if (pidNode(m.target) === node) {
        this.#monitors.delete(ref);
        const watcher = this.#procs.get(m.watcher);
        watcher?.watching?.delete(ref);
        if (watcher)
          this.#enqueue(watcher, 'info', { type: 'DOWN', ref, pid: m.target, reason: noconnection }, null);
      }
    }
    const cut: [Process, Pid][] = [];
    for (const p of this.#procs.values()) {
      if (p.links === null) continue;
      for (const other of p.links) if (pidNode(other) === node) cut.push([p, other]);
    }
    for (const [p, other] of cut) {
      p.links?.delete(other);
      this.#signal(p, other, noconnection);
    }
  }

  // ---- timers ----

  /** Deliver `message` to `to` as an info message after `ms`. Cancelled if `to` ends first. */
  sendAfter(ms: number, message: unknown, to: Pid | string): TimerRef {
    const isPidString = to.charCodeAt(0) === 60; /* < */
    const dest = isPidString ? this.#procs.get(to as Pid) : undefined;
    // A local pid that has already ended: the timer is cancelled at once, as in OTP.
    if (isPidString && dest === undefined && pidNode(to as Pid) === this.node) return this.#timers.spent();
    if (dest !== undefined && dest.timers === null) dest.timers = new Set();
    return this.#timers.start(
      ms,
      () => {
        try {
          this.send(to, message);
        } catch {
          // A name nobody holds any more when the timer fires: dropped, as in OTP.
        }
      },
      dest?.timers ?? null,
    );
  }

  cancelTimer(ref: TimerRef): boolean {
    return this.#timers.cancel(ref);
  }

  get activeTimers(): number {
    return this.#timers.active;
  }

  // ---- registry ----

  register(name: string, pid: Pid): void {
    const p = this.#procs.get(pid);
    if (p === undefined) throw hotlineError('HOT_ERR_NOPROC', pid);
    // One name per process, as in OTP: a second one would outlive the process in the registry.
    if (p.name !== undefined) throw hotlineError('HOT_ERR_ALREADY_REGISTERED', pid, p.name);
    if (this.#names?.covers(name)) {
      this.#registry.check(name);
      this.#names.register(name, pid);
    }
    this.#registry.register(name, pid);
    p.name = name;
  }

  /** A local name first; then, for the names it covers, the cluster's directory. */
  whereis(name: string): Pid | undefined {
    const pid = this.#registry.whereis(name);
    if (pid !== undefined || this.#names === undefined || !this.#names.covers(name)) return pid;
    return this.#names.whereis(name);
  }

  registered(): [string, Pid][] {
    return this.#registry.names();
  }
}

function describeValue(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  const type = (v as { type?: unknown }).type;
  if (type === undefined) return 'an object without a type';
  // Describing a bad result must not throw itself (a bigint or a cyclic object defeats JSON).
  let shown: string | undefined;
  try {
    shown = JSON.stringify(type);
  } catch {
    shown = undefined;
  }
  return `type ${shown ?? typeof type}`;
}
