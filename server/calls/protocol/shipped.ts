/**
 * The protocol as the shipped releases speak it: the base plus each release's additions.
 * This is what phones (the load harness, k6 scripts) are typed against and what the
 * committed protocol.schema.json documents; a node accepts an addition only once it has
 * loaded a release that declares it.
 */
import type { Static } from 'typebox';
import { protocol as v110 } from '../releases/1.1.0/protocol.ts';
import { baseClientMessages, baseServerMessages } from './messages.ts';

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
