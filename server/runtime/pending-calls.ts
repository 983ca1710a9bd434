/**
 * Calls waiting for their reply: made, answered (now or deferred), timed out, or failed
 * because the target ended or its node went away. Each is settled exactly once.
 */
import { hotlineError } from '../errors/catalogue.ts';
import type { From } from './behaviour.ts';
import { plainError } from './distribution.ts';
import { describeReason, type ExitReason } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';
import type { Process } from './process.ts';

interface PendingCall {
  target: Pid;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  timer: unknown;
  /** Made by a caller in the other runtime of a move: the answer goes back through the move's peer. */
  peer: boolean;
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
      // Another node's pid, or ours behind a move (moving, moved, or not arrived yet).
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
      this.#pending.set(ref, { target: pid, resolve, reject, timer, peer: false });
      if (target === undefined) {
        k.remote.toNodeOf(pid, { type: 'call', to: pid, message, ref, timeoutMs: finite ? timeoutMs : null });
        return;
      }
      target.addCallIn(ref);
      k.dispatch.enqueue(target, 'call', message, { node: k.node, ref });
    });
  }

  /**
   * Answer a call, now or later (deferred reply). A reply nobody here waits for goes to the
   * other runtime of a move, if one runs (its caller may be there); otherwise it is dropped.
   */
  reply(from: From, value: unknown): void {
    const pending = this.settle(from.ref);
    if (pending !== undefined) pending.resolve(value);
    else this.#k.move.toPeer({ type: 'reply', ref: from.ref, value });
  }

  fail(from: From, err: unknown): void {
    const pending = this.settle(from.ref);
    if (pending !== undefined) pending.reject(err);
    else this.#k.move.toPeer({ type: 'reply_error', ref: from.ref, error: plainError(err) });
  }

  /**
   * Call `ref` is now `p`'s to answer. A call of this runtime's own callers just counts
   * as `p`'s; one whose caller is in the other runtime of a move is waited for here
   * on its behalf (for at most `timeoutMs`; null: until `p` answers or ends), and its
   * answer goes back through the move's peer.
   */
  adopt(ref: number, p: Process, timeoutMs: number | null): void {
    if (!this.#pending.has(ref)) {
      const move = this.#k.move;
      const clock = this.#k.clock;
      const timer = timeoutMs === null ? undefined : clock.setTimeout(() => this.settle(ref), timeoutMs);
      this.#pending.set(ref, {
        target: p.self,
        resolve: (value) => move.toPeer({ type: 'reply', ref, value }),
        reject: (err) => move.toPeer({ type: 'reply_error', ref, error: plainError(err) }),
        timer,
        peer: true,
      });
    }
    p.addCallIn(ref);
  }

  /** `p` moved away: calls waited for here on behalf of the other runtime are its business now. */
  moved(p: Process): void {
    if (p.callsIn === null) return;
    for (const ref of p.callsIn) if (this.#pending.get(ref)?.peer === true) this.settle(ref);
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
