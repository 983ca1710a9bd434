/**
 * What runtimes on different nodes tell each other: Erlang's distribution protocol, reduced
 * to what Hotline uses. The runtime gives these messages their meaning (remote send, call,
 * monitor, link); a transport (server/cluster) only carries them to a node and reports
 * nodes that went away. Every field is JSON: pids are strings, exit reasons are made plain
 * with `plainReason` before they leave.
 */
import type { ExitReason } from './exit-reason.ts';
import type { Pid } from './pid.ts';

/** An error as it crosses the wire: its catalogue code (when it has one) and its message. */
export interface PlainError {
  readonly code?: string;
  readonly message: string;
}

export type DistMessage =
  | { readonly type: 'send'; readonly to: Pid; readonly kind: 'cast' | 'info'; readonly message: unknown }
  /** `ref` is the caller's: the reply names it. The callee gives up after `timeoutMs` too (null: never). */
  | {
      readonly type: 'call';
      readonly to: Pid;
      readonly message: unknown;
      readonly ref: number;
      readonly timeoutMs: number | null;
    }
  | { readonly type: 'reply'; readonly ref: number; readonly value: unknown }
  | { readonly type: 'reply_error'; readonly ref: number; readonly error: PlainError }
  /** `ref` is the watcher's: the DOWN names it. */
  | { readonly type: 'monitor'; readonly watcher: Pid; readonly target: Pid; readonly ref: number }
  | { readonly type: 'demonitor'; readonly target: Pid; readonly ref: number }
  | { readonly type: 'down'; readonly ref: number; readonly pid: Pid; readonly reason: ExitReason }
  | { readonly type: 'link' | 'unlink'; readonly from: Pid; readonly to: Pid }
  | { readonly type: 'exit'; readonly from: Pid; readonly to: Pid; readonly reason: ExitReason };

/** How a runtime reaches other nodes. The runtime calls it only for pids of other nodes. */
export interface Distribution {
  /**
   * Carry `message` to `node`, in order per pair of nodes. Never throws: a message for a
   * node that is gone is dropped, and that node's `nodeDown` settles what waited on it.
   */
  send(node: string, message: DistMessage): void;
}

/**
 * Names that live outside the node (a cluster-wide directory of users, say). The runtime
 * consults it for the names it `covers`, after its own registry. `whereis` must answer at
 * once: the directory keeps what it needs in memory.
 */
export interface NameDirectory {
  covers(name: string): boolean;
  whereis(name: string): Pid | undefined;
  /** Throws HOT_ERR_NAME_TAKEN when another node is known to hold the name. */
  register(name: string, pid: Pid): void;
  unregister(name: string, pid: Pid): void;
}

/** An exit reason that survives JSON: an error becomes its code and message. */
export function plainReason(reason: ExitReason): ExitReason {
  return reason.type === 'error' ? { type: 'error', error: plainError(reason.error) } : reason;
}

export function plainError(error: unknown): PlainError {
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' ? { code: e.code, message } : { message };
}
