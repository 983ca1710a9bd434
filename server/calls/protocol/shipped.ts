/**
 * The protocol phones are typed against (the load harness, k6 scripts, the kit's sessions):
 * the base plus call_info, the one addition kit v1 has. A node accepts an addition only
 * once it has loaded a release that declares it (releases/index.ts lists which do).
 */
import type { Static } from 'typebox';
import { callInfoMessages } from '../kit/v1/call-info.ts';
import { baseClientMessages, baseServerMessages } from './messages.ts';

export const clientMessages = { ...baseClientMessages, ...callInfoMessages.client };
export const serverMessages = { ...baseServerMessages, ...callInfoMessages.server };

export type ClientMessageType = keyof typeof clientMessages;
export type ClientMessage = {
  [K in ClientMessageType]: Static<(typeof clientMessages)[K]>;
}[ClientMessageType];
export type ClientMessageOf<K extends ClientMessageType> = Static<(typeof clientMessages)[K]>;

export type ServerMessageType = keyof typeof serverMessages;
export type ServerMessage = {
  [K in ServerMessageType]: Static<(typeof serverMessages)[K]>;
}[ServerMessageType];
