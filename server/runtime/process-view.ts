/**
 * A process as code outside the runtime sees it: to read, never to write. Only the
 * kernel changes a process, through its record's methods (process-record.ts).
 */
import type { AnyBehaviour, MonitorRef, ProcessStatus, TimerRef } from './behaviour.ts';
import type { Pid } from './pid.ts';

/** What the release handler, metrics, the observer and tests read. */
export interface ProcessView {
  readonly self: Pid;
  readonly parent: Pid | undefined;
  readonly name: string | undefined;
  readonly behaviour: AnyBehaviour;
  readonly state: unknown;
  readonly status: ProcessStatus;
  readonly mailboxLength: number;
  /** Messages taken from the mailbox so far. */
  readonly handled: number;
  /** Inside an async callback (or async init). */
  readonly busy: boolean;
  readonly suspended: boolean;
  readonly dead: boolean;
  readonly trapExits: boolean;
  readonly links: ReadonlySet<Pid> | null;
  /** Monitors other processes hold on this one. */
  readonly watchers: ReadonlySet<MonitorRef> | null;
  /** Monitors this process holds. */
  readonly watching: ReadonlySet<MonitorRef> | null;
  readonly timers: ReadonlySet<TimerRef> | null;
}
