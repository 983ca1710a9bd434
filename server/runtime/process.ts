/**
 * One lightweight process. Its record (process-record.ts) is what the kernel keeps about
 * it; the process is also the ProcessContext handed to its callbacks, so a process costs
 * no extra object for that. Every request a callback makes goes to the runtime.
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
import type { Pid } from './pid.ts';
import { ProcessRecord } from './process-record.ts';
import type { Runtime } from './runtime.ts';

export type { ProcessView } from './process-view.ts';

export class Process extends ProcessRecord implements ProcessContext {
  constructor(
    readonly rt: Runtime,
    self: Pid,
    behaviour: AnyBehaviour,
    parent: Pid | undefined,
  ) {
    super(self, behaviour, parent);
  }

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
    // Its children name it as their parent.
    return this.rt.spawn(module, args, { ...options, parent: this.self });
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
