/**
 * A process as plain data, to be restored in another runtime of the same node under the
 * same pid (move.ts): everything the kernel keeps about it except what it is waiting on
 * right now (it is captured at a message boundary, so there is none). Every field survives
 * structuredClone; the state and messages are the process's own and must too.
 */
import type { From, MonitorRef } from './behaviour.ts';
import type { Kind } from './mailbox.ts';
import type { Pid } from './pid.ts';
import type { TimerImage } from './timers.ts';

export type { TimerImage } from './timers.ts';

export interface MailImage {
  readonly kind: Kind;
  readonly message: unknown;
  /** A call's caller (its reply goes there, wherever the process runs): null for casts and info. */
  readonly from: From | null;
}

export interface ProcessImage {
  readonly pid: Pid;
  /** The behaviour and the version it runs: the receiving runtime must have that version loaded. */
  readonly module: string;
  readonly version: string;
  readonly state: unknown;
  /** Its mailbox, oldest first. */
  readonly mailbox: readonly MailImage[];
  /** Timers running for it, by ref (so that a cancel after the move still finds them), with time left. */
  readonly timers: readonly TimerImage[];
  readonly links: readonly Pid[];
  /** Monitors it holds: the ref its DOWN will carry, and the process watched. */
  readonly watching: readonly { readonly ref: MonitorRef; readonly target: Pid }[];
  /** Monitors on it: the watcher, and the ref the watcher's DOWN must carry. */
  readonly watchers: readonly { readonly watcher: Pid; readonly ref: MonitorRef }[];
  readonly trapExits: boolean;
  readonly name?: string;
  readonly parent?: Pid;
  /** Messages handled so far (introspection). */
  readonly handled: number;
  /** Calls made to it and not answered yet, by the ref in their `From`. */
  readonly callsIn: readonly number[];
}
