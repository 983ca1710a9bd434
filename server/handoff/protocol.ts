/**
 * What the old node (A) and its successor (B) tell each other over the IPC channel, as one
 * discriminated union. The channel serializes with `advanced` (structuredClone), so payloads
 * may carry Maps and Buffers; process images are plain data by the runtime's contract.
 *
 * Order: B says `hello`; A checks it (refuses before anything moves) and says `welcome`;
 * B boots and says `ready` (or `failed`). Then `listener` per surface (with the net.Server
 * handle) answered by `listening`; then batches: one `socket` per phone (with its handle),
 * then `batch` (the images and the phones' gateway state), answered by `ack` or `nack`;
 * then `final`, answered by `done`. `dist` carries the runtime's messages for pids that live
 * on the other side while the move runs, both ways. `abort` tells B to give up and exit.
 */
import type { DistMessage } from '../runtime/index.ts';

/** Bumped whenever a message below changes shape: A refuses a successor that speaks another. */
export const HANDOFF_PROTOCOL_VERSION = 1;

/** The two surfaces a node listens on. */
export type Surface = 'public' | 'admin';

/** A phone's front-door state that moves with its socket (the gateway's, not its processes'). */
export interface ConnectionState {
  /** The gateway's socket id: the port process's state names it. */
  readonly socket: number;
  readonly port: string;
  readonly session: string;
  /** The user its session registered, once it did (call-attempt limit). */
  readonly user: string | null;
  /** The rate limiter's bucket. */
  readonly tokens: number;
  /** Bytes read from the socket but not yet parsed into frames, to feed the new WebSocket first. */
  readonly head: Buffer;
}

export type HandoffMessage =
  // ---- B to A ----
  | {
      readonly type: 'hello';
      readonly node: string;
      readonly pid: number;
      readonly runtimeApi: number;
      readonly protocol: number;
    }
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly why: string }
  | { readonly type: 'listening'; readonly surface: Surface }
  | { readonly type: 'ack'; readonly batch: number }
  | { readonly type: 'nack'; readonly batch: number; readonly why: string }
  | { readonly type: 'done' }
  // ---- A to B ----
  /** Compatible: boot. Pids B makes start above A's counter, so they never collide with A's. */
  | { readonly type: 'welcome'; readonly firstPid: number }
  | { readonly type: 'refused'; readonly why: string }
  | { readonly type: 'listener'; readonly surface: Surface }
  /** Sent with the socket's handle, before the batch it belongs to. */
  | { readonly type: 'socket'; readonly batch: number; readonly socket: number }
  | {
      readonly type: 'batch';
      readonly batch: number;
      readonly images: readonly unknown[];
      readonly connections: readonly ConnectionState[];
    }
  | {
      readonly type: 'final';
      readonly batch: number;
      readonly images: readonly unknown[];
      /** prom-client's getMetricsAsJSON() of A: B's counters start from these. */
      readonly metrics: unknown;
      /** The gateway's socket counter, so B's new sockets never reuse a moved one's id. */
      readonly nextSocket: number;
    }
  | { readonly type: 'abort'; readonly why: string }
  // ---- both ways ----
  | { readonly type: 'dist'; readonly message: DistMessage };

export type HandoffMessageType = HandoffMessage['type'];

export function isHandoffMessage(value: unknown): value is HandoffMessage {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}
