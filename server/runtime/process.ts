/**
 * One lightweight process. Its record (process-record.ts) is what the kernel keeps about
 * it; the process is also the ProcessContext handed to its callbacks, so a process costs
 * no extra object for that. Every request a callback makes goes straight to the kernel
 * part that serves it (a send from a callback is the runtime's hottest path).
 */
import { hotlineError } from '../errors/catalogue.ts';
import type {
  AnyBehaviour,
  From,
  MessageMap,
  MonitorRef,
  ProcessContext,
  SpawnOptions,
  TimerRef,
} from './behaviour.ts';
import type { ExitReason } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import type { Pid } from './pid.ts';
import { ProcessRecord } from './process-record.ts';

export type { ProcessView } from './process-view.ts';

export class Process extends ProcessRecord implements ProcessContext {
  constructor(
    readonly k: Kernel,
    self: Pid,
    serial: number,
    behaviour: AnyBehaviour,
    parent: Pid | undefined,
  ) {
    super(self, serial, behaviour, parent);
  }

  get node(): string {
    return this.k.node;
  }

  now(): number {
    return this.k.clock.now();
  }

  send(to: Pid | string, message: unknown): void {
    this.k.dispatch.deliver(to, 'info', message);
  }

  cast<M extends MessageMap>(to: Pid<M> | string, message: M['cast']): void {
    this.k.dispatch.deliver(to, 'cast', message);
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
    return this.k.calls.call(to, message, timeoutMs);
  }

  reply(from: From, value: unknown): void {
    this.k.calls.reply(from, value);
  }

  sendAfter(ms: number, message: unknown, to: Pid | string = this.self): TimerRef {
    return this.k.timers.sendAfter(ms, message, to);
  }

  cancelTimer(ref: TimerRef): boolean {
    return this.k.timers.cancel(ref);
  }

  spawn(module: string, args: unknown, options: SpawnOptions = {}): Pid {
    // Its children name it as their parent.
    return this.k.table.spawn(module, args, { ...options, parent: this.self });
  }

  link(pid: Pid): void {
    this.k.links.link(this.self, pid);
  }

  unlink(pid: Pid): void {
    this.k.links.unlink(this.self, pid);
  }

  monitor(pid: Pid): MonitorRef {
    return this.k.links.monitor(this.self, pid);
  }

  demonitor(ref: MonitorRef): void {
    this.k.links.demonitor(ref);
  }

  exit(pid: Pid, reason: ExitReason): void {
    this.k.table.exit(pid, reason, this.self);
  }

  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined> {
    return this.k.table.awaitExit(pid, timeoutMs);
  }

  register(name: string): void {
    this.k.table.register(name, this.self);
  }

  whereis(name: string): Pid | undefined {
    return this.k.registry.whereis(name);
  }

  reportError(error: unknown): void {
    const b = this.behaviour;
    this.k.events.emit('error_report', { pid: this.self, module: b.name, version: b.version, error });
  }
}
