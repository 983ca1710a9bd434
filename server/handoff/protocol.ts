/**
 * What the old node (A) and its successor (B) tell each other over the IPC channel, as one
 * discriminated union. The channel serializes with JSON, Node's fastest for the many small
 * messages that come with the sockets; a message whose payload may hold more than JSON does
 * (Maps, Buffers: process images, the runtime's messages) travels packed (`toWire`).
 *
 * Order: B says `receiving` as soon as it runs, then `hello`; A checks hello (refuses
 * before anything moves) and says `welcome`; B boots and says `ready` (or `failed`). From
 * `receiving` on, A names the phones' sockets B got when it was spawned (`inherit`) and
 * streams the rest ahead (`socket` with its handle), each answered by `held`. Then `listener` per surface (with the net.Server handle) answered by `listening`;
 * then batches: a `socket` for each of its phones B does not hold yet, then `batch` (the
 * images and the phones' gateway state), answered by `ack` or `nack`, then `commit`; the last batch carries what the node keeps besides, and B answers its commit with `done`. `dist` carries the runtime's messages for pids that live
 * on the other side while the move runs, both ways. `abort` tells B to give up and exit.
 */

import { deserialize, serialize } from 'node:v8';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import type { Seat } from '../cluster/cluster.ts';
import type { GatewayShared, PhoneState } from '../http/gateway.ts';
import type { ReleasesImage } from '../release/handler.ts';
import type { DistMessage, Pid, ProcessImage } from '../runtime/index.ts';
import type { SeatStep } from './seat.ts';

/** Bumped whenever a message below changes shape: A refuses a successor that speaks another. */
export const HANDOFF_PROTOCOL_VERSION = 6;

/** The two surfaces a node listens on. */
export type Surface = 'public' | 'admin';

/** A phone that moves: its front-door state, and the bytes read from its socket but not yet parsed. */
export interface MovingPhone extends PhoneState {
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
  /** B runs and holds the sockets A sends from now on (before hello: its code is still loading). */
  | { readonly type: 'receiving' }
  /**
   * B holds these sockets, unread. `notHeld`: sockets named in `inherit` whose descriptor B
   * could not open (A sends them over IPC).
   */
  | { readonly type: 'held'; readonly sockets: readonly number[]; readonly notHeld?: readonly number[] }
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly why: string }
  | { readonly type: 'listening'; readonly surface: Surface }
  | { readonly type: 'ack'; readonly batch: number }
  | { readonly type: 'nack'; readonly batch: number; readonly why: string }
  | { readonly type: 'done' }
  // ---- A to B ----
  /** Compatible: boot. Pids and refs B makes start above A's counters, so they never collide with A's. */
  | {
      readonly type: 'welcome';
      readonly firstPid: number;
      readonly firstRef: number;
      /** The release A runs: B boots it, so the processes find their code. */
      readonly release: string;
      /** What A's node gives B to boot with (the observer's sign-ins: B serves pages from the listeners phase on). */
      readonly boot?: unknown;
      /** A node in a cluster: B joins in its place (seat.ts). */
      readonly cluster?: Seat;
      /** Every release A's processes run, and where A's install waits: B loads them all. */
      readonly releases: ReleasesImage;
    }
  | { readonly type: 'refused'; readonly why: string }
  | { readonly type: 'listener'; readonly surface: Surface }
  /** Sent with the socket's handle, ahead of its batch or with it. */
  | { readonly type: 'socket'; readonly socket: number }
  /** The sockets B got as descriptors when it was spawned, in order from INHERITED_FD (inherit.ts). */
  | { readonly type: 'inherit'; readonly sockets: readonly number[] }
  | {
      readonly type: 'batch';
      readonly batch: number;
      readonly images: readonly ProcessImage[];
      readonly phones: readonly MovingPhone[];
      /**
       * How A's registered names (rt.move.names()) changed since the batch before: all of them
       * with the first. B looks them up after its own, so what runs in B reaches by name what
       * is still in A (the CDR journal, users). Optional: a successor that ignores it speaks
       * the same protocol, without those names.
       */
      readonly names?: NamesChange;
      /** Only with the last batch: what the node keeps besides its processes. */
      readonly last?: LastBatch;
    }
  /** A committed the batch B acked: its processes run in B from now on. */
  | { readonly type: 'commit'; readonly batch: number }
  | { readonly type: 'abort'; readonly why: string }
  // ---- both ways ----
  | { readonly type: 'dist'; readonly message: DistMessage }
  /** The node's seat in its cluster, after the last batch (seat.ts). */
  | { readonly type: 'cluster'; readonly message: SeatStep };

/** Names A has now and had not (or under another pid), and names it no longer has. */
export interface NamesChange {
  readonly set: readonly [string, Pid][];
  readonly unset: readonly string[];
}

/** What moves with the last batch besides processes and phones. */
export interface LastBatch {
  /** The gateway's socket counter and call attempts, so B goes on from them. */
  readonly gateway: GatewayShared;
  /** The application master, restored in this batch: B's stop() stops it. */
  readonly application: string;
  /** prom-client's getMetricsAsJSON() of A: B's counters go on from these. */
  readonly metrics: unknown;
  /** What else A's node carries to B (the handoff's progress, the observer's sign-ins); B's node reads it. */
  readonly node?: unknown;
  /** A's releases as the last processes leave: an install that waits goes on in B. */
  readonly releases: ReleasesImage;
}

export type HandoffMessageType = HandoffMessage['type'];
export type MessageOfType<T extends HandoffMessageType> = Extract<HandoffMessage, { type: T }>;

/** What B says in hello that A checks before anything moves. */
export interface Versions {
  readonly runtimeApi: number;
  readonly protocol: number;
}

/** Why A refuses a successor (undefined: it does not). */
export function incompatibility(
  mine: Versions & { node: string },
  hello: Versions & { node: string },
): string | undefined {
  if (hello.protocol !== mine.protocol)
    return `it speaks handoff protocol ${hello.protocol}; this node speaks ${mine.protocol}`;
  if (hello.runtimeApi !== mine.runtimeApi)
    return `it runs runtime API ${hello.runtimeApi}; this node runs ${mine.runtimeApi}`;
  if (hello.node !== mine.node) return `it is node ${hello.node}, not ${mine.node}`;
  return undefined;
}

function isHandoffMessage(value: unknown): value is HandoffMessage {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

/** Beyond this a packed message is refused (its images are a few KB a process). */
const MAX_UNPACKED_BYTES = 1 << 30;
/**
 * Packed messages this large are also deflated (zlib's fastest level): a batch of 200 phones
 * is about 400 KB serialized, the last batch at 5,000 phones about 3 MB (the supervisors'
 * children), and the fewer bytes the keeper relays and B reads between its phones' frames,
 * the shorter the batch's pause. Smaller ones (the runtime's messages) are not worth it.
 */
const DEFLATE_FROM_BYTES = 16 * 1024;

/** What may carry more than JSON does: these travel packed. */
const PACKED = new Set<HandoffMessageType>(['welcome', 'batch', 'dist', 'cluster']);

/**
 * How a message travels: bare, or packed by v8's serializer (as structuredClone would) into
 * one base64 string, deflated first if it is large. A batch of hundreds of process images
 * also travels faster so: Node's IPC and the keeper's relay carry one string several times
 * faster than the object graph in it.
 */
export function toWire(message: HandoffMessage): unknown {
  if (!PACKED.has(message.type)) return message;
  const bytes = serialize(message);
  return bytes.length < DEFLATE_FROM_BYTES
    ? { type: 'packed', data: bytes.toString('base64') }
    : {
        type: 'packed',
        deflated: true,
        data: deflateSync(bytes, { level: constants.Z_BEST_SPEED }).toString('base64'),
      };
}

/** A message as it came off the channel; undefined if it is none. */
export function fromWire(value: unknown): HandoffMessage | undefined {
  if (!isHandoffMessage(value)) return undefined;
  const { data, deflated } = value as { data?: unknown; deflated?: unknown };
  if ((value.type as string) !== 'packed') return PACKED.has(value.type) ? undefined : value;
  if (typeof data !== 'string') return undefined;
  let unpacked: unknown;
  try {
    const bytes = Buffer.from(data, 'base64');
    unpacked = deserialize(
      deflated === true ? inflateSync(bytes, { maxOutputLength: MAX_UNPACKED_BYTES }) : bytes,
    );
  } catch {
    // Not v8's serialization (or not deflate's): no message, never a throw in the channel's listener.
    return undefined;
  }
  return isHandoffMessage(unpacked) && PACKED.has(unpacked.type) ? unpacked : undefined;
}
