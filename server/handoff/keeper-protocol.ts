/**
 * What a node and the keeper (server/node/keeper.ts) tell each other over the node's IPC
 * channel. Every message here has a `keeper` field and no `type`, so it can never be taken
 * for a HandoffMessage: anything a node sends without `keeper` is handoff traffic, which the
 * keeper relays to the other side of the handoff as it is.
 */

import type { SuccessorSpec } from './channel.ts';

/** A node to the keeper. */
export type KeeperRequest =
  /**
   * The serving node wants a successor: the keeper spawns it as its own child, with the
   * copies it holds of the phones' sockets (inherit.ts).
   */
  | { readonly keeper: 'spawn'; readonly spec: SuccessorSpec }
  /** A new phone's socket (its handle comes with it): the keeper holds a copy, never reads it. */
  | { readonly keeper: 'copy'; readonly socket: number }
  /** That phone's connection ended: the keeper closes its copy, so the connection ends for the phone too. */
  | { readonly keeper: 'drop'; readonly socket: number }
  /** After a failed handoff: the phones the node has; the keeper closes its copies of any other. */
  | { readonly keeper: 'copies'; readonly sockets: readonly number[] }
  /**
   * Handoff traffic for the other side, with its handle if it carries one. `server` numbers
   * a net.Server the sender passes, so a connection the keeper's transit copy happens to
   * accept can be handed back to it (`connection`).
   */
  | { readonly keeper: 'relay'; readonly message: unknown; readonly server?: number }
  /** The node has taken over: signals go to it, and its exit code becomes the keeper's. */
  | { readonly keeper: 'serving' }
  /** The old node gives up on its successor. */
  | { readonly keeper: 'kill-successor' };

/** The keeper to a node. */
export type KeeperNotice =
  /** `inherited`: the sockets the successor got as descriptors, in order (inherit.ts). */
  | { readonly keeper: 'spawned'; readonly pid: number; readonly inherited: readonly number[] }
  | { readonly keeper: 'spawn-failed'; readonly why: string }
  /** Handoff traffic from the other side (to the old node; the successor gets it bare). */
  | { readonly keeper: 'relay'; readonly message: unknown }
  /** A connection accepted by the keeper's copy of the listener the node numbered `server`. */
  | { readonly keeper: 'connection'; readonly server: number }
  | { readonly keeper: 'successor-gone'; readonly why: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** Whether a message is for the keeper at all (the rest is handoff traffic to relay). */
export const isKeeperEnvelope = (value: unknown): value is { keeper: unknown } =>
  isRecord(value) && 'keeper' in value;

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((a) => typeof a === 'string');

const isIds = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((a) => Number.isInteger(a));

const isSpec = (value: unknown): value is SuccessorSpec =>
  isRecord(value) &&
  typeof value.nodeBinary === 'string' &&
  typeof value.entry === 'string' &&
  isStrings(value.execArgv) &&
  isStrings(value.args);

/** A keeper envelope checked field by field: the request, or why it is not one. */
export function parseKeeperRequest(value: { keeper: unknown }): KeeperRequest | string {
  const m = value as Record<string, unknown>;
  switch (m.keeper) {
    case 'spawn':
      return isSpec(m.spec) ? { keeper: 'spawn', spec: m.spec } : 'spawn without a valid spec';
    case 'relay':
      if (m.server !== undefined && !Number.isInteger(m.server)) return 'relay with a bad server number';
      return {
        keeper: 'relay',
        message: m.message,
        ...(m.server === undefined ? {} : { server: m.server as number }),
      };
    case 'copy':
    case 'drop':
      return Number.isInteger(m.socket)
        ? { keeper: m.keeper, socket: m.socket as number }
        : `${m.keeper} without a socket number`;
    case 'copies':
      return isIds(m.sockets) ? { keeper: 'copies', sockets: m.sockets } : 'copies without socket numbers';
    case 'serving':
    case 'kill-successor':
      return { keeper: m.keeper };
    default:
      return `unknown keeper request ${JSON.stringify(m.keeper)}`;
  }
}

/** A notice from the keeper, or undefined for anything else on the channel. */
export function parseKeeperNotice(value: unknown): KeeperNotice | undefined {
  if (!isKeeperEnvelope(value)) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.keeper) {
    case 'spawned':
      return typeof m.pid === 'number' && isIds(m.inherited)
        ? { keeper: 'spawned', pid: m.pid, inherited: m.inherited }
        : undefined;
    case 'spawn-failed':
    case 'successor-gone':
      return typeof m.why === 'string' ? { keeper: m.keeper, why: m.why } : undefined;
    case 'relay':
      return { keeper: 'relay', message: m.message };
    case 'connection':
      return Number.isInteger(m.server) ? { keeper: 'connection', server: m.server as number } : undefined;
    default:
      return undefined;
  }
}
