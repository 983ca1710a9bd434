/**
 * One lightweight process: its mailbox, state, behaviour and bookkeeping. It is also the
 * ProcessContext handed to its callbacks, so a process costs no extra object for that.
 * Optional bookkeeping (links, monitors, timers) is allocated only when used: an idle
 * process with a small state stays a few hundred bytes.
 */

import { hotlineError } from '../errors/catalogue.ts';
import type {
  AnyBehaviour,
  From,
  MessageMap,
  MonitorRef,
  ProcessContext,
  ProcessStatus,
  SpawnOptions,
  TimerRef,
} from './behaviour.ts';
import type { ExitReason } from './exit-reason.ts';
import { type Kind, Mailbox } from './mailbox.ts';
import type { Pid } from './pid.ts';
import type { Runtime } from './runtime.ts';

export interface SuspendWaiter {
  resolve(): void;
  reject(err: unknown): void;
}

export class Process implements ProcessContext {
  state: unknown = undefined;
  mailbox: Mailbox | null = null;
  /** In the run queue now. */
  queued = false;
  /** Inside an async callback (or async init): no other message may start. */
  busy = false;
  initializing = true;
  suspended = false;
  exiting = false;
  dead = false;
  trapExits = false;
  handled = 0;
  name: string | undefined = undefined;
  links: Set<Pid> | null = null;
  /** Monitors other processes hold on this one. */
  watchers: Set<MonitorRef> | null = null;
  /** Monitors this process holds. */
  watching: Set<MonitorRef> | null = null;
  timers: Set<TimerRef> | null = null;
  /** Calls sent to this process and not yet answered; failed if it ends first. */
  callsIn: Set<number> | null = null;
  suspendWaiters: SuspendWaiter[] | null = null;
  exitWaiters: ((reason: ExitReason) => void)[] | null = null;

  constructor(
    readonly rt: Runtime,
    readonly self: Pid,
    public behaviour: AnyBehaviour,
    readonly parent: Pid | undefined,
  ) {}

  /** Free to take its next message. */
  get runnable(): boolean {
    return !this.busy && !this.suspended && !this.exiting && !this.dead;
  }

  get mailboxLength(): number {
    return this.mailbox === null ? 0 : this.mailbox.length;
  }

  get status(): ProcessStatus {
    if (this.exiting) return 'exiting';
    if (this.initializing) return 'initializing';
    if (this.suspended) return 'suspended';
    if (this.busy) return 'running';
    return this.mailboxLength > 0 ? 'runnable' : 'waiting';
  }

  deliver(kind: Kind, message: unknown, from: From | null): void {
    if (this.mailbox === null) this.mailbox = new Mailbox();
    this.mailbox.push(kind, message, from);
  }

  // ---- ProcessContext: what callbacks see ----

  get node(): string {
    return this.rt.node;
  }

  now(): number {
    return this.rt.clock.now();
  }

  send(to: Pid | string, message: unknown): void {
    this.rt.send(to, message);
  }

  cast<M extends MessageMap>(to: Pid<M> | string, message: M['cast']): void {
    this.rt.cast(to, message);
  }

  call<M extends MessageMap>(
    to: Pid<M> | string,
    message: M['call'],
    timeoutMs?: number,
  ): Promise<M['reply']> {
    // As gen_server: a process waiting on its own reply would never get to handle the call.
    if (to === this.self || (this.name !== undefined && to === this.name)) {
      return Promise.reject(hotlineError('HOT_ERR_CALLING_SELF', this.self));
    }
    return this.rt.call(to, message, timeoutMs);
  }

  reply(from: From, value: unknown): void {
    this.rt.reply(from, value);
  }

  sendAfter(ms: number, message: unknown, to: Pid | string = this.self): TimerRef {
    return this.rt.sendAfter(ms, message, to);
  }

  cancelTimer(ref: TimerRef): boolean {
    return this.rt.cancelTimer(ref);
  }

  spawn(module: string, args: unknown, options: SpawnOptions = {}): Pid {
    return this.rt.spawnFrom(this, module, args, options);
  }

  link(pid: Pid): void {
    this.rt.link(this.self, pid);
  }

  unlink(pid: Pid): void {
    this.rt.unlink(this.self, pid);
  }

  monitor(pid: Pid): MonitorRef {
    return this.rt.monitor(this.self, pid);
  }

  demonitor(ref: MonitorRef): void {
    this.rt.demonitor(ref);
  }

  trapExit(on: boolean): void {
    this.trapExits = on;
  }

  exit(pid: Pid, reason: ExitReason): void {
    this.rt.exit(pid, reason, this.self);
  }

  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined> {
    return this.rt.awaitExit(pid, timeoutMs);
  }

  register(name: string): void {
    this.rt.register(name, this.self);
  }

  whereis(name: string): Pid | undefined {
    return this.rt.whereis(name);
  }

  reportError(error: unknown): void {
    const b = this.behaviour;
    this.rt.events.emit('error_report', { pid: this.self, module: b.name, version: b.version, error });
  }
}
