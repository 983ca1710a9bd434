/**
 * A node's process runtime: the facade over the kernel's parts (kernel.ts) — the process
 * table, the dispatch loop, links and monitors, pending calls, other nodes — plus timers
 * and the registry. Generic: it runs any behaviour and knows nothing of calls.
 */
import type { AnyBehaviour, From, MessageMap, MonitorRef, TimerRef } from './behaviour.ts';
import { bootKernel } from './boot.ts';
import type { Clock } from './clock.ts';
import type { CrashGuard } from './dispatch.ts';
import type { DistMessage, Distribution, NameDirectory } from './distribution.ts';
import type { RuntimeEvents } from './events.ts';
import type { ExitReason } from './exit-reason.ts';
import { Kernel, type RuntimeOptions } from './kernel.ts';
import type { ModuleTable } from './module-table.ts';
import { MoveApi } from './move-api.ts';
import type { Pid } from './pid.ts';
import type { Process, ProcessView } from './process.ts';
import type { RuntimeSpawnOptions } from './process-table.ts';
import { ReleaseApi } from './release-api.ts';
import type { Scheduler } from './scheduler.ts';
import { Sys } from './sys.ts';

export { type CrashGuard, MESSAGES_PER_TURN } from './dispatch.ts';
export type { RuntimeOptions } from './kernel.ts';
export type { RuntimeSpawnOptions } from './process-table.ts';

export class Runtime {
  readonly node: string;
  readonly clock: Clock;
  readonly checkState: boolean;
  readonly callTimeoutMs: number;
  readonly events: RuntimeEvents;
  readonly modules: ModuleTable;
  readonly sys: Sys;
  /** What the release layer may do to processes (it gets no Process). */
  readonly release: ReleaseApi;
  /** Moving processes to another runtime of this node (a successor taking over). */
  readonly move: MoveApi;
  readonly #k: Kernel;

  constructor(options: RuntimeOptions = {}) {
    const k = new Kernel(options);
    this.#k = k;
    this.node = k.node;
    this.clock = k.clock;
    this.checkState = k.checkState;
    this.callTimeoutMs = k.callTimeoutMs;
    this.events = k.events;
    this.modules = k.modules;
    this.sys = new Sys(k);
    this.release = new ReleaseApi(k, this.sys);
    this.move = new MoveApi(k);
    bootKernel(this.modules);
  }

  /** The guard the release handler set while a release is under watch (set through `release.setGuard`). */
  get guard(): CrashGuard | undefined {
    return this.#k.dispatch.guard;
  }

  get scheduler(): Scheduler<Process> {
    return this.#k.dispatch.scheduler;
  }

  // ---- processes ----

  spawn(module: string | AnyBehaviour, args?: unknown, options: RuntimeSpawnOptions = {}): Pid {
    return this.#k.table.spawn(module, args, options);
  }

  /** The live process behind a local pid, to read. */
  lookup(pid: Pid): ProcessView | undefined {
    return this.#k.table.get(pid);
  }

  isAlive(pid: Pid): boolean {
    return this.#k.table.has(pid);
  }

  processes(): IterableIterator<ProcessView> {
    return this.#k.table.values();
  }

  get processCount(): number {
    return this.#k.table.size;
  }

  /** Resolves when no process is runnable. */
  idle(): Promise<void> {
    return this.#k.dispatch.scheduler.idle();
  }

  // ---- messaging ----

  /** Plain message, handled by handleInfo. Sending to a dead pid is not an error (as in OTP). */
  send(to: Pid | string, message: unknown): void {
    this.#k.dispatch.deliver(to, 'info', message);
  }

  cast<M extends MessageMap>(to: Pid<M> | string, message: M['cast']): void {
    this.#k.dispatch.deliver(to, 'cast', message);
  }

  call<M extends MessageMap>(
    to: Pid<M> | string,
    message: M['call'],
    timeoutMs?: number,
  ): Promise<M['reply']> {
    return this.#k.calls.call(to, message, timeoutMs);
  }

  /** Answer a call, now or later (deferred reply). A reply nobody waits for any more is dropped. */
  reply(from: From, value: unknown): void {
    this.#k.calls.reply(from, value);
  }

  // ---- exits, links and monitors ----

  /** Send an exit signal to `pid` (from `from`, or from outside any process). */
  exit(pid: Pid, reason: ExitReason, from: Pid = `<0@${this.node}>` as Pid): void {
    this.#k.table.exit(pid, reason, from);
  }

  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined> {
    return this.#k.table.awaitExit(pid, timeoutMs);
  }

  /** Link two processes. Linking to a process that is gone signals `noproc` to `a`. */
  link(a: Pid, b: Pid): void {
    this.#k.links.link(a, b);
  }

  unlink(a: Pid, b: Pid): void {
    this.#k.links.unlink(a, b);
  }

  /** Monitor `target` from `watcher`: a DOWN info message follows its end (at once if gone). */
  monitor(watcher: Pid, target: Pid): MonitorRef {
    return this.#k.links.monitor(watcher, target);
  }

  demonitor(ref: MonitorRef): void {
    this.#k.links.demonitor(ref);
  }

  // ---- other nodes ----

  /** Join a cluster: pids of other nodes are reached through `dist`, names it covers through `names`. */
  distribute(dist: Distribution, names?: NameDirectory): void {
    this.#k.remote.join(dist);
    this.#k.registry.join(names);
  }

  /** A message from the runtime of node `from`. */
  receive(from: string, m: DistMessage): void {
    this.#k.remote.receive(from, m);
  }

  /** `node` is gone: see Remote.nodeDown. */
  nodeDown(node: string): void {
    this.#k.remote.nodeDown(node);
  }

  // ---- timers ----

  /** Deliver `message` to `to` as an info message after `ms`. Cancelled if `to` ends first. */
  sendAfter(ms: number, message: unknown, to: Pid | string): TimerRef {
    return this.#k.timers.sendAfter(ms, message, to);
  }

  cancelTimer(ref: TimerRef): boolean {
    return this.#k.timers.cancel(ref);
  }

  get activeTimers(): number {
    return this.#k.timers.active;
  }

  // ---- registry ----

  register(name: string, pid: Pid): void {
    this.#k.table.register(name, pid);
  }

  /** A local name first; then, for the names it covers, the cluster's directory. */
  whereis(name: string): Pid | undefined {
    return this.#k.registry.whereis(name);
  }

  registered(): [string, Pid][] {
    return this.#k.registry.names();
  }
}
