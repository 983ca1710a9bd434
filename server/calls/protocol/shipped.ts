/**
 * The protocol as the shipped releases speak it: the base plus each release's additions.
 * This is what phones (the load harness, k6 scripts) are typed against and what the
 * committed protocol.schema.json documents; a node accepts an addition only once it has
 * loaded a release that declares it.
 */
import type { Static } from 'typebox';
import type { Release } from '../contract.ts';
import { protocol as v110 } from '../releases/1.1.0/protocol.ts';
import { baseClientMessages, baseServerMessages, type ProtocolAdditions } from './messages.ts';

export const shippedAdditions = [v110];

export const clientMessages = { ...baseClientMessages, ...v110.client };
export const serverMessages = { ...baseServerMessages, ...v110.server };

export type ClientMessageType = keyof typeof clientMessages;
export type ClientMessage = {
  [K in ClientMessageType]: Static<(typeof clientMessages)[K]>;
}[ClientMessageType];
export type ClientMessageOf<K extends ClientMessageType> = Static<(typeof clientMessages)[K]>;

export type ServerMessageType = keyof typeof serverMessages;
export type ServerMessage = {
  [K in ServerMessageType]: Static<(typeof serverMessages)[K]>;
}[ServerMessageType];

/**
 * The messages a release speaks beyond the base. Releases built for runtime API 1 declare
 * none: the node's own protocol then held call_info, so a node booting a stored 1.1.0 or
 * 2.0.0 of that build learns it for them.
 */
export const additionsOf = (r: Release): ProtocolAdditions | undefined =>
  r.protocol ?? (r.apiVersion === 1 ? v110 : undefined);
