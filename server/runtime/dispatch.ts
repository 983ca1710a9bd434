/**
 * The dispatch loop: messages into mailboxes, and out of them one at a time into the
 * behaviour's callbacks, whose results are checked and applied. The hot path of the
 * runtime: nothing here allocates per message beyond what a callback itself returns.
 */
import { performance } from 'node:perf_hooks';
import { hotlineError } from '../errors/catalogue.ts';
import type { AnyBehaviour, From } from './behaviour.ts';
import type { ExitReason } from './exit-reason.ts';
import type { Kernel, RuntimeOptions } from './kernel.ts';
import type { Kind, Mailbox } from './mailbox.ts';
import type { PendingCalls } from './pending-calls.ts';
import type { Pid } from './pid.ts';
import type { Process } from './process.ts';
import { isThenable, type ProcessTable } from './process-table.ts';
import type { Registry } from './registry.ts';
import type { RunningRecord } from './running.ts';
import { Scheduler } from './scheduler.ts';

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

/** No snapshot was taken: the process is not under a guard (a state may itself be undefined). */
const NO_SNAPSHOT = Symbol('no snapshot');

export class Dispatch {
  /** Set by the release handler while a release is under watch. */
  guard: CrashGuard | undefined = undefined;
  readonly scheduler: Scheduler<Process>;
  readonly #k: Kernel;
  // The parts every message reaches, kept here: one load less on the hot path.
  readonly #registry: Registry;
  readonly #table: ProcessTable;
  readonly #calls: PendingCalls;
  readonly #checkState: boolean;
  readonly #observe: RuntimeOptions['turnObserver'];
  readonly #running: RunningRecord;

  constructor(kernel: Kernel, sliceMs: number, observe: RuntimeOptions['turnObserver']) {
    this.#k = kernel;
    this.#registry = kernel.registry;
    this.#table = kernel.table;
    this.#calls = kernel.calls;
    this.#checkState = kernel.checkState;
    this.#observe = observe;
    this.#running = kernel.running;
    // Between slices no callback runs: said once a slice, not after every turn.
    this.scheduler = new Scheduler(
      (p) => this.#turn(p),
      sliceMs,
      () => this.#running.idle(),
    );
  }

  /** Sends to a dead local pid are dropped, as in OTP; to another node's, they go through the distribution. */
  deliver(to: Pid | string, kind: 'cast' | 'info', message: unknown): void {
    // A pid (the common case) without the call into the registry: this is the send path.
    const pid = to.charCodeAt(0) === 60 /* < */ ? (to as Pid) : this.#registry.resolve(to);
    const p = this.#table.get(pid);
    if (p !== undefined) return this.enqueue(p, kind, message, null);
    this.#k.remote.deliver(pid, kind, message);
  }

  enqueue(p: Process, kind: Kind, message: unknown, from: From | null): void {
    p.deliver(kind, message, from);
    if (p.runnable && !p.initializing) this.scheduler.enqueue(p);
  }

  /** Make the process runnable again if it has work (after resume, or an async callback). */
  wake(p: Process): void {
    if (p.runnable && !p.initializing && p.mailboxLength > 0) this.scheduler.enqueue(p);
  }

  /** An async callback finished: hand the process to a waiting suspend, or run it on. */
  settled(p: Process): void {
    const waiters = p.takeSuspendWaiters();
    if (waiters !== null) {
      p.suspend();
      for (const w of waiters) w.resolve();
      return;
    }
    this.wake(p);
  }

  cloneable(state: unknown): boolean {
    try {
      structuredClone(state);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A turn handles up to MESSAGES_PER_TURN messages of one process, as Erlang's reduction
   * budget does: a server process with a long mailbox (a supervisor, the journal) drains it
   * in far fewer trips round a busy run queue, and a process with one message is no worse off.
   */
  #turn(p: Process): number {
    let n = 0;
    this.#running.process(p.serial, p.behaviour);
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
    p.takeHead();
    this.#running.message(kind, message);
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
            return this.#calls.fail(from as From, hotlineError('HOT_ERR_UNHANDLED_CALL', b.name));
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
        this.#table.crash(p, err);
      return;
    }
    if (isThenable(result)) {
      p.awaitCallback();
      result.then(
        (r) => {
          if (p.dead) return;
          p.callbackSettled();
          if (this.#apply(p, kind, from, r)) this.settled(p);
        },
        (err) => {
          if (p.dead) return;
          p.callbackSettled();
          this.#table.crash(p, err);
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
    if (guard === undefined || p.ending) return false;
    p.state = snapshot;
    (p.mailbox as Mailbox).unshift(kind, message, from);
    p.suspend();
    let taken = false;
    try {
      taken = guard.caught(p.self, err);
    } catch {
      taken = false;
    }
    if (taken) return true;
    // The guard declined: the message is consumed by the crash, as without a guard.
    (p.mailbox as Mailbox).drop();
    p.resume();
    return false;
  }

  #unhandled(p: Process, kind: 'cast' | 'info'): void {
    this.#k.events.emit('unhandled', { pid: p.self, module: p.behaviour.name, kind });
  }

  /** Apply a callback's result. False when the process ended. */
  #apply(p: Process, kind: Kind, from: From | null, result: unknown): boolean {
    if (p.ending) return false;
    const table = this.#table;
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
        table.crash(p, err);
        return false;
      }
    }
    const valid =
      type === 'noreply' ||
      (type === 'reply' && kind === 'call') ||
      (type === 'stop' && typeof (reason as ExitReason | undefined)?.type === 'string');
    if (!valid) {
      const callback = { cast: 'handleCast', call: 'handleCall', info: 'handleInfo' }[kind];
      table.crash(p, hotlineError('HOT_ERR_BAD_RETURN', callback, describeValue(result)));
      return false;
    }
    p.state = state;
    if (this.#checkState && !this.cloneable(state)) {
      table.crash(p, hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', kind));
      return false;
    }
    if (type === 'reply' || (type === 'stop' && kind === 'call' && hasReply))
      this.#calls.reply(from as From, replyValue);
    if (type === 'stop') {
      table.terminate(p, reason as ExitReason);
      return false;
    }
    return true;
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
