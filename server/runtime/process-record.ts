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

export class ProcessRecord implements ProcessView {
  /** Written by the kernel only: after init, after each callback, and by sys. */
  state: unknown = undefined;
  /** In the run queue now (the scheduler's own mark). */
  queued = false;
  #behaviour: AnyBehaviour;
  #mailbox: Mailbox | null = null;
  // A process is created inside its init: busy and initializing until initialized().
  #busy = true;
  #initializing = true;
  #suspended = false;
  #exiting = false;
  #dead = false;
  #trapExits = false;
  #handled = 0;
  #name: string | undefined = undefined;
  #links: Set<Pid> | null = null;
  #watchers: Set<MonitorRef> | null = null;
  #watching: Set<MonitorRef> | null = null;
  #timers: Set<TimerRef> | null = null;
  /** Calls sent to this process and not yet answered; failed if it ends first. */
  #callsIn: Set<number> | null = null;
  #suspendWaiters: SuspendWaiter[] | null = null;
  #exitWaiters: ExitWaiter[] | null = null;

  constructor(
    readonly self: Pid,
    behaviour: AnyBehaviour,
    readonly parent: Pid | undefined,
  ) {
    this.#behaviour = behaviour;
  }

  get behaviour(): AnyBehaviour {
    return this.#behaviour;
  }
  get mailbox(): Mailbox | null {
    return this.#mailbox;
  }
  get busy(): boolean {
    return this.#busy;
  }
  get initializing(): boolean {
    return this.#initializing;
  }
  get suspended(): boolean {
    return this.#suspended;
  }
  get exiting(): boolean {
    return this.#exiting;
  }
  get dead(): boolean {
    return this.#dead;
  }
  /** Ending or ended: no callback result applies any more. */
  get ending(): boolean {
    return this.#dead || this.#exiting;
  }
  get trapExits(): boolean {
    return this.#trapExits;
  }
  get handled(): number {
    return this.#handled;
  }
  get name(): string | undefined {
    return this.#name;
  }
  get links(): ReadonlySet<Pid> | null {
    return this.#links;
  }
  get watchers(): ReadonlySet<MonitorRef> | null {
    return this.#watchers;
  }
  get watching(): ReadonlySet<MonitorRef> | null {
    return this.#watching;
  }
  get timers(): ReadonlySet<TimerRef> | null {
    return this.#timers;
  }
  get callsIn(): ReadonlySet<number> | null {
    return this.#callsIn;
  }
  get exitWaiters(): readonly ExitWaiter[] | null {
    return this.#exitWaiters;
  }
  get suspendWaiters(): readonly SuspendWaiter[] | null {
    return this.#suspendWaiters;
  }

  /** Free to take its next message. */
  get runnable(): boolean {
    return !this.#busy && !this.#suspended && !this.#exiting && !this.#dead;
  }

  get mailboxLength(): number {
    return this.#mailbox === null ? 0 : this.#mailbox.length;
  }

  get status(): ProcessStatus {
    if (this.#exiting) return 'exiting';
    if (this.#initializing) return 'initializing';
    if (this.#suspended) return 'suspended';
    if (this.#busy) return 'running';
    return this.mailboxLength > 0 ? 'runnable' : 'waiting';
  }

  // ---- the steps of its life ----

  deliver(kind: Kind, message: unknown, from: From | null): void {
    if (this.#mailbox === null) this.#mailbox = new Mailbox();
    this.#mailbox.push(kind, message, from);
  }

  /** The oldest message, whose parts the dispatcher has read, is being handled. */
  takeHead(): void {
    (this.#mailbox as Mailbox).drop();
    this.#handled++;
  }

  /** init returned (or its promise resolved) with `state`. */
  initialized(state: unknown): void {
    this.state = state;
    this.#busy = false;
    this.#initializing = false;
  }

  /** A callback returned a promise: no other message starts until it settles. */
  awaitCallback(): void {
    this.#busy = true;
  }

  callbackSettled(): void {
    this.#busy = false;
  }

  /** Suspend now if at a message boundary; false if inside a callback or ending. */
  trySuspend(): boolean {
    if (this.#busy || this.#exiting) return false;
    this.#suspended = true;
    return true;
  }

  /** Suspend unconditionally: the process is known to be at a boundary. */
  suspend(): void {
    this.#suspended = true;
  }

  /** True if it was suspended. */
  resume(): boolean {
    if (!this.#suspended) return false;
    this.#suspended = false;
    return true;
  }

  /** Run other code from now on (sys changeCode). */
  swapCode(to: AnyBehaviour, state: unknown): void {
    this.#behaviour = to;
    this.state = state;
  }

  /** Start ending through terminate; false if already ending. */
  beginExit(): boolean {
    if (this.#dead || this.#exiting) return false;
    this.#exiting = true;
    return true;
  }

  /** The process is gone: false if it already was. Its mailbox goes with it. */
  end(): boolean {
    if (this.#dead) return false;
    this.#dead = true;
    this.#exiting = false;
    this.#mailbox = null;
    return true;
  }

  named(name: string): void {
    this.#name = name;
  }

  trapExit(on: boolean): void {
    this.#trapExits = on;
  }

  // ---- bookkeeping ----

  addLink(pid: Pid): void {
    this.#links = added(this.#links, pid);
  }
  removeLink(pid: Pid): void {
    this.#links?.delete(pid);
  }
  addWatcher(ref: MonitorRef): void {
    this.#watchers = added(this.#watchers, ref);
  }
  removeWatcher(ref: MonitorRef): void {
    this.#watchers?.delete(ref);
  }
  addWatching(ref: MonitorRef): void {
    this.#watching = added(this.#watching, ref);
  }
  removeWatching(ref: MonitorRef): void {
    this.#watching?.delete(ref);
  }
  addCallIn(ref: number): void {
    this.#callsIn = added(this.#callsIn, ref);
  }
  removeCallIn(ref: number): void {
    this.#callsIn?.delete(ref);
  }

  /** The set the timer table keeps this process's running timers in (it adds and removes). */
  timerSet(): Set<TimerRef> {
    if (this.#timers === null) this.#timers = new Set();
    return this.#timers;
  }

  addSuspendWaiter(waiter: SuspendWaiter): void {
    this.#suspendWaiters = appended(this.#suspendWaiters, waiter);
  }
  removeSuspendWaiter(waiter: SuspendWaiter): void {
    this.#suspendWaiters = without(this.#suspendWaiters, waiter);
  }
  /** The suspends waiting for a boundary, for the caller to answer; null if none. */
  takeSuspendWaiters(): SuspendWaiter[] | null {
    const waiters = this.#suspendWaiters;
    this.#suspendWaiters = null;
    return waiters;
  }

  addExitWaiter(waiter: ExitWaiter): void {
    this.#exitWaiters = appended(this.#exitWaiters, waiter);
  }
  removeExitWaiter(waiter: ExitWaiter): void {
    this.#exitWaiters = without(this.#exitWaiters, waiter);
  }
  takeExitWaiters(): ExitWaiter[] | null {
    const waiters = this.#exitWaiters;
    this.#exitWaiters = null;
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
