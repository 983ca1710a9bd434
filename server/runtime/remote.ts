/**
 * Other nodes: what the runtime sends for pids that are not its own, and what it does with
 * what other nodes' runtimes send it (distribution.ts gives the protocol). Without a
 * cluster every method here is a cheap no: the local path pays one `if` for it. Our own
 * pids missing from the table go to the move (move.ts): held, moved, or not arrived yet.
 */
import { errorFromNode, hotlineError } from '../errors/catalogue.ts';
import type { MonitorRef } from './behaviour.ts';
import { type DistMessage, type Distribution, plainError, plainReason } from './distribution.ts';
import type { ExitReason } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';

export class Remote {
  readonly #k: Kernel;
  /** Set when the node is in a cluster: pids of other nodes are reached through it. */
  #dist: Distribution | undefined = undefined;

  constructor(kernel: Kernel) {
    this.#k = kernel;
  }

  join(dist: Distribution): void {
    this.#dist = dist;
  }

  /**
   * The node of a pid not in the process table, when that is another node (unreachable
   * without a cluster) or ours with a move that reaches the pid; undefined: nobody.
   */
  nodeOf(pid: Pid): string | undefined {
    const node = pidNode(pid);
    if (node === undefined) return undefined;
    if (node === this.#k.node) return this.#k.move.reaches(pid) ? node : undefined;
    if (this.#dist === undefined) throw hotlineError('HOT_ERR_NODE_UNREACHABLE', node);
    return node;
  }

  send(node: string, message: DistMessage): void {
    this.#dist?.send(node, message);
  }

  /**
   * Send `message` for `pid`, which is not in the process table, to the node of `pid`, or
   * through the move when it is ours; false when nobody takes it.
   */
  toNodeOf(pid: Pid, message: DistMessage): boolean {
    const node = pidNode(pid);
    if (node === undefined) return false;
    if (node === this.#k.node) return this.#k.move.forward(pid, message);
    if (this.#dist === undefined) return false;
    this.#dist.send(node, message);
    return true;
  }

  /** A cast or info message for a pid not in the process table. */
  deliver(pid: Pid, kind: 'cast' | 'info', message: unknown): void {
    if (this.nodeOf(pid) !== undefined) this.toNodeOf(pid, { type: 'send', to: pid, kind, message });
  }

  /** An exit signal for a pid not in the process table. */
  exit(to: Pid, from: Pid, reason: ExitReason): void {
    this.toNodeOf(to, { type: 'exit', from, to, reason: plainReason(reason) });
  }

  /** Tell a watcher on another node that `pid` has ended; `ref` is the watcher's own. */
  down(watcher: Pid, ref: MonitorRef, pid: Pid, reason: ExitReason): void {
    this.toNodeOf(watcher, { type: 'down', ref, pid, reason: plainReason(reason) });
  }

  /** A message from the runtime of node `from`. Pids it names as ours that are not (any more) get nothing. */
  receive(from: string, m: DistMessage): void {
    const k = this.#k;
    switch (m.type) {
      case 'send': {
        const p = k.table.get(m.to);
        if (p !== undefined) k.dispatch.enqueue(p, m.kind, m.message, null);
        // One a move holds or took to the other runtime of this node follows it.
        else k.move.forward(m.to, m);
        return;
      }
      case 'call':
        return this.#callFor(from, m);
      case 'reply':
        k.calls.settleFrom(from, m.ref)?.resolve(m.value);
        return;
      case 'reply_error':
        k.calls.settleFrom(from, m.ref)?.reject(errorFromNode(m.error.code, m.error.message));
        return;
      case 'monitor':
        return k.links.monitorFor(from, m);
      case 'demonitor':
        return k.links.demonitorFor(from, m);
      case 'down':
        return k.links.downFrom(m);
      case 'link':
        return k.links.linkFrom(from, m);
      case 'unlink':
        return k.links.unlinkFrom(m);
      case 'exit':
        return k.links.exitFrom(m);
    }
  }

  /** A call from another node, made here on its behalf: the reply (or the failure) goes back by ref. */
  #callFor(from: string, m: Extract<DistMessage, { type: 'call' }>): void {
    const answer = (message: DistMessage) => this.send(from, message);
    // Only our own pids: a name or another node's pid would send the call on elsewhere.
    const call =
      pidNode(m.to) === this.#k.node
        ? this.#k.calls.call(m.to, m.message, m.timeoutMs ?? Number.POSITIVE_INFINITY)
        : Promise.reject(hotlineError('HOT_ERR_NOPROC', m.to));
    call.then(
      (value) => answer({ type: 'reply', ref: m.ref, value }),
      (err) => answer({ type: 'reply_error', ref: m.ref, error: plainError(err) }),
    );
  }

  /**
   * `node` is gone: calls to it fail, monitors on its processes fire and links to them break
   * with `noconnection`, and what it held on ours is dropped.
   */
  nodeDown(node: string): void {
    this.#k.calls.nodeDown(node);
    this.#k.links.nodeDown(node);
  }
}
