/**
 * The frames of the phone protocol these scripts send and read. k6 cannot import the server's
 * TypeBox schemas (server/calls/protocol/messages.ts is the definition), so they are restated
 * here; test/k6/k6-scripts.test.ts checks at compile time that they still match the server's.
 * Types only: this file is shared by the k6 program and the Node one.
 */

export type ClientFrame =
  | { type: 'register'; user: string; token?: string }
  | { type: 'invite'; callId: string; to: string }
  | { type: 'media'; callId: string; seq: number; sentAt: number }
  | { type: 'dtmf'; callId: string; digit: string }
  | { type: 'bye'; callId: string };

export type ServerFrame =
  | { type: 'registered'; user: string; node: string; release: string }
  | { type: 'trying'; callId: string }
  | { type: 'ringing'; callId: string }
  | { type: 'answered'; callId: string }
  | { type: 'media_ack'; callId: string; seq: number; sentAt: number }
  | { type: 'media'; callId: string; seq: number; sentAt: number }
  | { type: 'prompt'; callId: string; text: string }
  | { type: 'ended'; callId: string; cause: string; durationMs: number }
  | { type: 'error'; code: string; message: string; ref?: string; callId?: string };

/** What GET /admin/install answers (the fields the scripts read). */
export interface InstallProgress {
  id: string;
  from: string;
  to: string;
  phase: string;
  outcome: 'installed' | 'aborted' | 'rolled_back' | null;
  reason: string | null;
  total: number;
  moved: number;
}
