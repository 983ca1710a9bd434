/**
 * System operations, handled outside a process's own message flow (OTP's sys module).
 * Single-threaded JS gives them a simple shape: a process not inside an async callback is
 * already at a message boundary, so suspending it is immediate; one inside an async
 * callback is suspended the moment that callback settles. A suspended process keeps
 * queueing messages and handles them in order once resumed.
 */
import { hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import type { AnyBehaviour } from './behaviour.ts';
import type { Kernel } from './kernel.ts';
import type { Pid } from './pid.ts';
import type { Process } from './process.ts';

export interface ChangeCodeOptions {
  /** The behaviour the process runs afterwards. */
  to: AnyBehaviour;
  /**
   * up: `to.codeChange(currentVersion, state, extra)`.
   * down: the current behaviour's `codeChange({ down: to.version }, state, extra)`, as OTP.
   */
  direction: 'up' | 'down';
  extra?: unknown;
  /** Switch code and keep the state as it is, without codeChange (OTP's `load_module`). */
  reload?: boolean;
}

export class Sys {
  readonly #k: Kernel;

  constructor(kernel: Kernel) {
    this.#k = kernel;
  }

  #get(pid: Pid): Process {
    const p = this.#k.table.get(pid);
    if (p === undefined) throw hotlineError('HOT_ERR_NOPROC', pid);
    return p;
  }

  /** Suspend now if the process is at a message boundary; false if it is inside a callback. */
  trySuspend(pid: Pid): boolean {
    return this.#get(pid).trySuspend();
  }

  /** Suspend at the next message boundary, waiting at most `timeoutMs` for one. */
  suspend(pid: Pid, timeoutMs = 5000): Promise<void> {
    let p: Process;
    try {
      p = this.#get(pid);
      if (this.trySuspend(pid)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    const clock = this.#k.clock;
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clock.clearTimeout(timer);
          resolve();
        },
        reject: (err: unknown) => {
          clock.clearTimeout(timer);
          reject(err);
        },
      };
      const timer = clock.setTimeout(() => {
        p.removeSuspendWaiter(waiter);
        reject(hotlineError('HOT_ERR_SUSPEND_TIMEOUT', pid, timeoutMs));
      }, timeoutMs);
      p.addSuspendWaiter(waiter);
    });
  }

  resume(pid: Pid): void {
    const p = this.#get(pid);
    // Suspends still waiting for a boundary: as in OTP, suspend then resume apply in order, so
    // they complete and the process runs on instead of being suspended with nobody to resume it.
    const waiters = p.takeSuspendWaiters();
    if (waiters !== null) for (const w of waiters) w.resolve();
    if (p.resume()) this.#k.dispatch.wake(p);
  }

  getState(pid: Pid): unknown {
    return this.#get(pid).state;
  }

  /** Replace the state through `fn`. If `fn` throws, the state is left as it was. */
  replaceState<S>(pid: Pid, fn: (state: S) => S): S {
    const p = this.#atBoundary(pid);
    let next: S;
    try {
      next = fn(p.state as S);
      if (this.#k.checkState) structuredClone(next);
    } catch (err) {
      throw hotlineErrorWithCause(err, 'HOT_ERR_REPLACE_STATE_FAILED', pid);
    }
    p.state = next;
    return next;
  }

  /**
   * Move a suspended process to other code, migrating its state with codeChange. If
   * codeChange throws, the process keeps its code and state and the error is thrown.
   * codeChange must be synchronous: migration is a pure data step, and keeping it
   * synchronous keeps each process's suspension down to that step alone.
   */
  changeCode(pid: Pid, options: ChangeCodeOptions): void {
    const p = this.#get(pid);
    if (!p.suspended) throw hotlineError('HOT_ERR_NOT_SUSPENDED', pid);
    const from = p.behaviour;
    const { to, direction, extra } = options;
    let next: unknown;
    try {
      next = options.reload === true ? p.state : migrate(from, to, direction, p.state, extra);
      if (this.#k.checkState) structuredClone(next);
    } catch (err) {
      throw hotlineErrorWithCause(err, 'HOT_ERR_CODE_CHANGE_FAILED', pid, from.version, to.version);
    }
    this.#k.modules.release(from);
    this.#k.modules.retain(to);
    p.swapCode(to, next);
    // An install changes 100,000 processes in a row: an event per process nobody listens to
    // is young garbage that brings the next GC pause sooner.
    if (this.#k.events.listened('code_change'))
      this.#k.events.emit('code_change', { pid, module: to.name, from: from.version, to: to.version });
  }

  #atBoundary(pid: Pid): Process {
    const p = this.#get(pid);
    if (p.busy) throw hotlineError('HOT_ERR_PROCESS_BUSY', pid);
    return p;
  }
}

/**
 * Run the migration that takes `state` from `from` to `to`. Pure: used both to migrate a
 * live process and to dry-run on a copy of its state before anything changes.
 */
export function migrate(
  from: AnyBehaviour,
  to: AnyBehaviour,
  direction: 'up' | 'down',
  state: unknown,
  extra: unknown,
): unknown {
  const owner = direction === 'up' ? to : from;
  if (owner.codeChange === undefined) return state;
  const arg = direction === 'up' ? from.version : { down: to.version };
  const next: unknown = owner.codeChange(arg, state, extra);
  if (typeof (next as { then?: unknown } | null)?.then === 'function') {
    throw new TypeError(
      `codeChange of ${owner.name} ${owner.version} returned a promise; it must be synchronous`,
    );
  }
  return next;
}
