/**
 * Calls waiting for their reply: made, answered (now or deferred), timed out, or failed
 * because the target ended or its node went away. Each is settled exactly once.
 */
import { hotlineError } from '../errors/catalogue.ts';
import type { From } from './behaviour.ts';
import { describeReason, type ExitReason } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';
import type { Process } from './process.ts';

interface PendingCall {
  target: Pid;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: unknown;
}

export class PendingCalls {
  readonly #k: Kernel;
  readonly #pending = new Map<number, PendingCall>();

  constructor(kernel: Kernel) {
    this.#k = kernel;
  }

  /** Call `to`; the runtime's default timeout (gen_server's 5 s) when none is given. */
  call<R>(to: Pid | string, message: unknown, timeoutMs = this.#k.callTimeoutMs): Promise<R> {
    const k = this.#k;
    let pid: Pid;
    let target: Process | undefined;
    let node: string | undefined;
    try {
      pid = k.registry.resolve(to);
      target = k.table.get(pid);
      if (target === undefined) node = k.remote.nodeOf(pid);
      if (target === undefined && node === undefined) throw hotlineError('HOT_ERR_NOPROC', pid);
    } catch (err) {
      return Promise.reject(err);
    }
    const ref = k.nextRef();
    return new Promise((resolve, reject) => {
      // An infinite timeout waits for ever (setTimeout would make it 1 ms).
      const finite = Number.isFinite(timeoutMs);
      const timer = finite
        ? k.clock.setTimeout(() => {
            if (this.settle(ref)) reject(hotlineError('HOT_ERR_CALL_TIMEOUT', pid, timeoutMs));
          }, timeoutMs)
        : undefined;
      this.#pending.set(ref, { target: pid, resolve, reject, timer });
      if (target === undefined) {
        return k.remote.send(node as string, {
          type: 'call',
          to: pid,
          message,
          ref,
          timeoutMs: finite ? timeoutMs : null,
        });
      }
      target.addCallIn(ref);
      k.dispatch.enqueue(target, 'call', message, { node: k.node, ref });
    });
  }

  /** Answer a call, now or later (deferred reply). A reply nobody waits for any more is dropped. */
  reply(from: From, value: unknown): void {
    this.settle(from.ref)?.resolve(value);
  }

  fail(from: From, err: unknown): void {
    this.settle(from.ref)?.reject(err);
  }

  /** Take the call `ref` out of waiting; undefined if it was settled already. */
  settle(ref: number): PendingCall | undefined {
    const pending = this.#pending.get(ref);
    if (pending === undefined) return undefined;
    this.#pending.delete(ref);
    if (pending.timer !== undefined) this.#k.clock.clearTimeout(pending.timer);
    this.#k.table.get(pending.target)?.removeCallIn(ref);
    return pending;
  }

  /** Settle a call to `node` by its ref: only that node answers it. */
  settleFrom(node: string, ref: number): PendingCall | undefined {
    const pending = this.#pending.get(ref);
    return pending !== undefined && pidNode(pending.target) === node ? this.settle(ref) : undefined;
  }

  /** `p` ended with calls to it unanswered: they fail with its reason. */
  failCallsIn(p: Process, reason: ExitReason): void {
    if (p.callsIn === null) return;
    const why = describeReason(reason);
    for (const ref of p.callsIn)
      this.fail({ node: this.#k.node, ref }, hotlineError('HOT_ERR_CALL_TARGET_EXITED', p.self, why));
  }

  /** `node` is gone: calls to its processes fail. A rare event: it scans. */
  nodeDown(node: string): void {
    for (const [ref, pending] of this.#pending) {
      if (pidNode(pending.target) === node)
        this.settle(ref)?.reject(hotlineError('HOT_ERR_CALL_TARGET_EXITED', pending.target, 'noconnection'));
    }
  }
}
