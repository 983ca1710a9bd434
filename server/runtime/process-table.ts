/**
 * The process table and the life of a process: spawn and init, then its end — through
 * terminate (a stop result, a crash) or at once (an exit signal) — and what its end tells
 * everyone who waited on it.
 */
import { hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import type { AnyBehaviour, SpawnOptions } from './behaviour.ts';
import { type ExitReason, errorReason, killed, noproc } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { formatPid, type Pid } from './pid.ts';
import { Process } from './process.ts';

export interface RuntimeSpawnOptions extends SpawnOptions {
  parent?: Pid;
}

export const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';

export class ProcessTable {
  readonly #k: Kernel;
  readonly #procs = new Map<Pid, Process>();
  #nextId: number;

  constructor(kernel: Kernel, firstPid: number) {
    this.#k = kernel;
    this.#nextId = firstPid - 1;
  }

  /** The id the next spawn takes. */
  get nextId(): number {
    return this.#nextId + 1;
  }

  /** Take a process out of the table, as it is: it is held by a move (move.ts). */
  hold(p: Process): void {
    this.#procs.delete(p.self);
  }

  /** Put a process a move held (or restored) into the table. */
  insert(p: Process): void {
    this.#procs.set(p.self, p);
  }

  get(pid: Pid): Process | undefined {
    return this.#procs.get(pid);
  }

  has(pid: Pid): boolean {
    return this.#procs.has(pid);
  }

  values(): IterableIterator<Process> {
    return this.#procs.values();
  }

  get size(): number {
    return this.#procs.size;
  }

  spawn(module: string | AnyBehaviour, args: unknown, options: RuntimeSpawnOptions): Pid {
    const k = this.#k;
    const behaviour = typeof module === 'string' ? k.modules.get(module) : module;
    // Refuse a bad or taken name before anything exists: no process, no events.
    if (options.name !== undefined) k.registry.check(options.name);
    const pid = formatPid(++this.#nextId, k.node);
    const p = new Process(k, pid, behaviour, options.parent);
    this.#procs.set(pid, p);
    k.modules.retain(behaviour);
    if (options.link && options.parent) k.links.link(options.parent, pid);
    if (options.name !== undefined) this.register(options.name, pid);
    k.events.emit('spawn', {
      pid,
      module: behaviour.name,
      version: behaviour.version,
      parent: options.parent,
    });
    let result: unknown;
    try {
      result = behaviour.init(args as never, p);
    } catch (err) {
      // The caller learns of the failure from the throw; it gets no exit signal as well.
      this.#unlinkQuietly(p, options.parent);
      this.finalize(p, errorReason(err));
      throw hotlineErrorWithCause(err, 'HOT_ERR_INIT_FAILED', behaviour.name);
    }
    if (options.restartOf) {
      k.events.emit('restart', { ...options.restartOf, pid, module: behaviour.name });
    }
    if (isThenable(result)) {
      result.then(
        (state) => this.#initDone(p, state),
        (err) => {
          if (!p.dead) this.finalize(p, errorReason(err));
        },
      );
      return pid;
    }
    if (k.checkState && !k.dispatch.cloneable(result)) {
      const err = hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', 'init');
      this.#unlinkQuietly(p, options.parent);
      this.finalize(p, errorReason(err));
      throw hotlineErrorWithCause(err, 'HOT_ERR_INIT_FAILED', behaviour.name);
    }
    this.#initDone(p, result);
    return pid;
  }

  #initDone(p: Process, state: unknown): void {
    if (p.dead) return;
    p.initialized(state);
    if (this.#k.checkState && !this.#k.dispatch.cloneable(state)) {
      // A failed init, like a rejected one: the process never ran, so terminate is not called.
      this.finalize(p, errorReason(hotlineError('HOT_ERR_STATE_NOT_CLONEABLE', 'init')));
      return;
    }
    this.#k.dispatch.settled(p);
  }

  #unlinkQuietly(p: Process, other: Pid | undefined): void {
    if (other !== undefined) this.#k.links.unlink(p.self, other);
  }

  register(name: string, pid: Pid): void {
    const p = this.#procs.get(pid);
    if (p === undefined) throw hotlineError('HOT_ERR_NOPROC', pid);
    // One name per process, as in OTP: a second one would outlive the process in the registry.
    if (p.name !== undefined) throw hotlineError('HOT_ERR_ALREADY_REGISTERED', pid, p.name);
    this.#k.registry.register(name, pid);
    p.named(name);
  }

  // ---- ending processes ----

  crash(p: Process, err: unknown): void {
    this.terminate(p, errorReason(err));
  }

  /** End through terminate(): used for stop results and crashes. */
  terminate(p: Process, reason: ExitReason): void {
    if (!p.beginExit()) return;
    const terminate = p.behaviour.terminate;
    if (terminate !== undefined) {
      try {
        const r = terminate.call(p.behaviour, reason, p.state, p);
        if (isThenable(r)) {
          const done = () => this.finalize(p, reason);
          r.then(done, done);
          return;
        }
      } catch {
        // terminate failing changes nothing: the process ends with the reason it had.
      }
    }
    this.finalize(p, reason);
  }

  /** The process is gone: free what it held, then tell whoever waited on it. */
  finalize(p: Process, reason: ExitReason): void {
    if (!p.end()) return;
    const k = this.#k;
    this.#procs.delete(p.self);
    k.modules.release(p.behaviour);
    if (p.name !== undefined) k.registry.unregister(p.name, p.self);
    if (p.timers !== null) for (const ref of p.timers) k.timers.cancel(ref);
    if (p.callsIn !== null) k.calls.failCallsIn(p, reason);
    if (p.watching !== null) for (const ref of p.watching) k.links.demonitor(ref);
    const suspends = p.takeSuspendWaiters();
    if (suspends !== null) for (const w of suspends) w.reject(hotlineError('HOT_ERR_NOPROC', p.self));
    const exits = p.takeExitWaiters();
    if (exits !== null) for (const w of exits) w(reason);
    k.events.emit('exit', { pid: p.self, module: p.behaviour.name, version: p.behaviour.version, reason });
    k.links.ended(p, reason);
  }

  /** Deliver an exit signal, as OTP does: kill is untrappable, normal is ignored unless trapped. */
  signal(target: Process, from: Pid, reason: ExitReason): void {
    if (target.dead) return;
    if (reason.type === 'kill') return this.finalize(target, killed);
    if (target.trapExits) {
      this.#k.dispatch.enqueue(target, 'info', { type: 'EXIT', from, reason }, null);
      return;
    }
    if (reason.type === 'normal') return;
    this.finalize(target, reason);
  }

  /** Send an exit signal to `pid` (from `from`, or from outside any process). */
  exit(pid: Pid, reason: ExitReason, from: Pid): void {
    const p = this.#procs.get(pid);
    if (p !== undefined) this.signal(p, from, reason);
    else this.#k.remote.exit(pid, from, reason);
  }

  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined> {
    const p = this.#procs.get(pid);
    if (p === undefined) return Promise.resolve(noproc);
    const clock = this.#k.clock;
    return new Promise((resolve) => {
      let timer: unknown;
      const waiter = (reason: ExitReason) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        resolve(reason);
      };
      p.addExitWaiter(waiter);
      if (Number.isFinite(timeoutMs)) {
        timer = clock.setTimeout(() => {
          p.removeExitWaiter(waiter);
          resolve(undefined);
        }, timeoutMs);
      }
    });
  }
}
