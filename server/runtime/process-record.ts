/**
 * What the kernel keeps about one process: its code, state, mailbox, flags and
 * bookkeeping. Its flags change only through the methods below, each named for the step
 * of the process's life it stands for; code outside the runtime sees it as a
 * `ProcessView`, which reads and writes nothing. Optional bookkeeping (links, monitors, timers, waiters)
 * is allocated only when used: an idle process with a small state stays a few hundred bytes.
 */
import type { AnyBehaviour, From, MonitorRef, ProcessStatus, TimerRef } from './behaviour.ts';
import type { ExitReason } from './exit-reason.ts';
import { type Kind, Mailbox } from './mailbox.ts';
import type { Pid } from './pid.ts';
import type { ProcessView } from './process-view.ts';

export interface SuspendWaiter {
  resolve(): void;
  reject(err: unknown): void;
}

export type ExitWaiter = (reason: ExitReason) => void;

// The flags are TypeScript-private plain fields behind getters, not `#private` ones: on the
// send path (`runnable`, `mailboxLength`, `deliver`), `#` fields cost 13-17% of the runtime
// bench's messages per second on Node 20.
export class ProcessRecord implements ProcessView {
  /** Written by the kernel only: after init, after each callback, and by sys. */
  state: unknown = undefined;
  /** In the run queue now (the scheduler's own mark). */
  queued = false;
  private _behaviour: AnyBehaviour;
  private _mailbox: Mailbox | null = null;
  // A process is created inside its init: busy and initializing until initialized().
  private _busy = true;
  private _initializing = true;
  private _suspended = false;
  private _exiting = false;
  private _dead = false;
  private _trapExits = false;
  private _handled = 0;
  private _name: string | undefined = undefined;
  private _links: Set<Pid> | null = null;
  private _watchers: Set<MonitorRef> | null = null;
  private _watching: Set<MonitorRef> | null = null;
  private _timers: Set<TimerRef> | null = null;
  /** Calls sent to this process and not yet answered; failed if it ends first. */
  private _callsIn: Set<number> | null = null;
  private _suspendWaiters: SuspendWaiter[] | null = null;
  private _exitWaiters: ExitWaiter[] | null = null;

  constructor(
    readonly self: Pid,
    behaviour: AnyBehaviour,
    readonly parent: Pid | undefined,
  ) {
    this._behaviour = behaviour;
  }

  get behaviour(): AnyBehaviour {
    return this._behaviour;
  }
  get mailbox(): Mailbox | null {
    return this._mailbox;
  }
  get busy(): boolean {
    return this._busy;
  }
  get initializing(): boolean {
    return this._initializing;
  }
  get suspended(): boolean {
    return this._suspended;
  }
  get exiting(): boolean {
    return this._exiting;
  }
  get dead(): boolean {
    return this._dead;
  }
  /** Ending or ended: no callback result applies any more. */
  get ending(): boolean {
    return this._dead || this._exiting;
  }
  get trapExits(): boolean {
    return this._trapExits;
  }
  get handled(): number {
    return this._handled;
  }
  get name(): string | undefined {
    return this._name;
  }
  get links(): ReadonlySet<Pid> | null {
    return this._links;
  }
  get watchers(): ReadonlySet<MonitorRef> | null {
    return this._watchers;
  }
  get watching(): ReadonlySet<MonitorRef> | null {
    return this._watching;
  }
  get timers(): ReadonlySet<TimerRef> | null {
    return this._timers;
  }
  get callsIn(): ReadonlySet<number> | null {
    return this._callsIn;
  }
  get exitWaiters(): readonly ExitWaiter[] | null {
    return this._exitWaiters;
  }
  get suspendWaiters(): readonly SuspendWaiter[] | null {
    return this._suspendWaiters;
  }

  /** Free to take its next message. */
  get runnable(): boolean {
    return !this._busy && !this._suspended && !this._exiting && !this._dead;
  }

  get mailboxLength(): number {
    return this._mailbox === null ? 0 : this._mailbox.length;
  }

  get status(): ProcessStatus {
    if (this._exiting) return 'exiting';
    if (this._initializing) return 'initializing';
    if (this._suspended) return 'suspended';
    if (this._busy) return 'running';
    return this.mailboxLength > 0 ? 'runnable' : 'waiting';
  }

  // ---- the steps of its life ----

  deliver(kind: Kind, message: unknown, from: From | null): void {
    if (this._mailbox === null) this._mailbox = new Mailbox();
    this._mailbox.push(kind, message, from);
  }

  /** The oldest message, whose parts the dispatcher has read, is being handled. */
  takeHead(): void {
    (this._mailbox as Mailbox).drop();
    this._handled++;
  }

  /** init returned (or its promise resolved) with `state`. */
  initialized(state: unknown): void {
    this.state = state;
    this._busy = false;
    this._initializing = false;
  }

  /**
   * Restored from a process image (move.ts): past init, at a message boundary, and
   * suspended until the move starts it.
   */
  restored(state: unknown, trapExits: boolean, handled: number): void {
    this.state = state;
    this._busy = false;
    this._initializing = false;
    this._suspended = true;
    this._trapExits = trapExits;
    this._handled = handled;
  }

  /** A callback returned a promise: no other message starts until it settles. */
  awaitCallback(): void {
    this._busy = true;
  }

  callbackSettled(): void {
    this._busy = false;
  }

  /** Suspend now if at a message boundary; false if inside a callback or ending. */
  trySuspend(): boolean {
    if (this._busy || this._exiting) return false;
    this._suspended = true;
    return true;
  }

  /** Suspend unconditionally: the process is known to be at a boundary. */
  suspend(): void {
    this._suspended = true;
  }

  /** True if it was suspended. */
  resume(): boolean {
    if (!this._suspended) return false;
    this._suspended = false;
    return true;
  }

  /** Run other code from now on (sys changeCode). */
  swapCode(to: AnyBehaviour, state: unknown): void {
    this._behaviour = to;
    this.state = state;
  }

  /** Start ending through terminate; false if already ending. */
  beginExit(): boolean {
    if (this._dead || this._exiting) return false;
    this._exiting = true;
    return true;
  }

  /** The process is gone: false if it already was. Its mailbox goes with it. */
  end(): boolean {
    if (this._dead) return false;
    this._dead = true;
    this._exiting = false;
    this._mailbox = null;
    return true;
  }

  named(name: string): void {
    this._name = name;
  }

  trapExit(on: boolean): void {
    this._trapExits = on;
  }

  // ---- bookkeeping ----

  addLink(pid: Pid): void {
    this._links = added(this._links, pid);
  }
  removeLink(pid: Pid): void {
    this._links?.delete(pid);
  }
  addWatcher(ref: MonitorRef): void {
    this._watchers = added(this._watchers, ref);
  }
  removeWatcher(ref: MonitorRef): void {
    this._watchers?.delete(ref);
  }
  addWatching(ref: MonitorRef): void {
    this._watching = added(this._watching, ref);
  }
  removeWatching(ref: MonitorRef): void {
    this._watching?.delete(ref);
  }
  addCallIn(ref: number): void {
    this._callsIn = added(this._callsIn, ref);
  }
  removeCallIn(ref: number): void {
    this._callsIn?.delete(ref);
  }

  /** The set the timer table keeps this process's running timers in (it adds and removes). */
  timerSet(): Set<TimerRef> {
    if (this._timers === null) this._timers = new Set();
    return this._timers;
  }

  addSuspendWaiter(waiter: SuspendWaiter): void {
    this._suspendWaiters = appended(this._suspendWaiters, waiter);
  }
  removeSuspendWaiter(waiter: SuspendWaiter): void {
    this._suspendWaiters = without(this._suspendWaiters, waiter);
  }
  /** The suspends waiting for a boundary, for the caller to answer; null if none. */
  takeSuspendWaiters(): SuspendWaiter[] | null {
    const waiters = this._suspendWaiters;
    this._suspendWaiters = null;
    return waiters;
  }

  addExitWaiter(waiter: ExitWaiter): void {
    this._exitWaiters = appended(this._exitWaiters, waiter);
  }
  removeExitWaiter(waiter: ExitWaiter): void {
    this._exitWaiters = without(this._exitWaiters, waiter);
  }
  takeExitWaiters(): ExitWaiter[] | null {
    const waiters = this._exitWaiters;
    this._exitWaiters = null;
    return waiters;
  }
}

function added<T>(set: Set<T> | null, item: T): Set<T> {
  const s = set ?? new Set<T>();
  s.add(item);
  return s;
}

function appended<T>(list: T[] | null, item: T): T[] {
  const l = list ?? [];
  l.push(item);
  return l;
}

/** `list` without `item`; null once empty, as the lazily allocated lists start. */
function without<T>(list: T[] | null, item: T): T[] | null {
  const i = list?.indexOf(item) ?? -1;
  if (i >= 0) list?.splice(i, 1);
  return list === null || list.length === 0 ? null : list;
}
