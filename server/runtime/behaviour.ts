/**
 * The behaviour contract, modelled on gen_server. A behaviour (callback module) is plain
 * functions plus a name and a version; the runtime owns the process, the mailbox and the
 * state. Because a process refers to its code only through its behaviour object, swapping
 * that object (with codeChange migrating the state) is all a code upgrade needs.
 */
import type { ExitReason } from './exit-reason.ts';
import type { MessageMap } from './message-map.ts';
import type { Pid } from './pid.ts';

export type { MessageMap } from './message-map.ts';

/** Where a call's reply goes. Plain data, so it can be kept in state and replied to later. */
export interface From {
  readonly node: string;
  readonly ref: number;
}

export type TimerRef = number;
export type MonitorRef = number;

/** Messages the runtime itself delivers to `handleInfo`. */
export type SystemInfo =
  | { readonly type: 'EXIT'; readonly from: Pid; readonly reason: ExitReason }
  | { readonly type: 'DOWN'; readonly ref: MonitorRef; readonly pid: Pid; readonly reason: ExitReason };

/** Where a process is in its life, as introspection reports it. */
export type ProcessStatus = 'initializing' | 'waiting' | 'runnable' | 'running' | 'suspended' | 'exiting';

export type CodeChangeFrom = string | { readonly down: string };

export type CallResult<S, R> =
  | { readonly type: 'reply'; readonly reply: R; readonly state: S }
  | { readonly type: 'noreply'; readonly state: S }
  | { readonly type: 'stop'; readonly reason: ExitReason; readonly state: S; readonly reply?: R };

export type CastResult<S> =
  | { readonly type: 'noreply'; readonly state: S }
  | { readonly type: 'stop'; readonly reason: ExitReason; readonly state: S };

type MaybePromise<T> = T | Promise<T>;

export interface SpawnOptions {
  /** Link the new process to the caller (spawn_link). */
  link?: boolean;
  /** Register the new process under this name. */
  name?: string;
  /** Set by supervisors: this spawn restarts a child, and a restart event is emitted. */
  restartOf?: { supervisor: Pid; childId: string };
}

/** What a callback may do. It is the process's own handle on the runtime. */
export interface ProcessContext {
  readonly self: Pid;
  /** The process that spawned this one. */
  readonly parent: Pid | undefined;
  readonly node: string;
  /** The runtime's clock, in epoch milliseconds. */
  now(): number;
  send(to: Pid | string, message: unknown): void;
  cast<M extends MessageMap>(to: Pid<M> | string, message: M['cast']): void;
  call<M extends MessageMap>(
    to: Pid<M> | string,
    message: M['call'],
    timeoutMs?: number,
  ): Promise<M['reply']>;
  reply(from: From, value: unknown): void;
  /** Deliver `message` to `to` (default: this process) as an info message after `ms`. */
  sendAfter(ms: number, message: unknown, to?: Pid | string): TimerRef;
  cancelTimer(ref: TimerRef): boolean;
  spawn(module: string, args: unknown, options?: SpawnOptions): Pid;
  link(pid: Pid): void;
  unlink(pid: Pid): void;
  monitor(pid: Pid): MonitorRef;
  demonitor(ref: MonitorRef): void;
  trapExit(on: boolean): void;
  exit(pid: Pid, reason: ExitReason): void;
  /** Resolves with the reason once `pid` has ended, or with undefined after `timeoutMs`. */
  awaitExit(pid: Pid, timeoutMs: number): Promise<ExitReason | undefined>;
  register(name: string): void;
  whereis(name: string): Pid | undefined;
  /**
   * Report a failure this process contained and carries on from (OTP's error report): it
   * answered a request with a server-side error rather than crashing. The runtime tells its
   * listeners; a release under watch counts these against its error threshold.
   */
  reportError(error: unknown): void;
}

export interface Behaviour<S = unknown, A = never, M extends MessageMap = MessageMap> {
  readonly name: string;
  readonly version: string;
  init(args: A, ctx: ProcessContext): MaybePromise<S>;
  handleCall?(
    message: M['call'],
    from: From,
    state: S,
    ctx: ProcessContext,
  ): MaybePromise<CallResult<S, M['reply']>>;
  handleCast?(message: M['cast'], state: S, ctx: ProcessContext): MaybePromise<CastResult<S>>;
  handleInfo?(message: M['info'] | SystemInfo, state: S, ctx: ProcessContext): MaybePromise<CastResult<S>>;
  terminate?(reason: ExitReason, state: S, ctx: ProcessContext): MaybePromise<void>;
  /**
   * Migrate state written by another version. On an upgrade the new version's codeChange
   * gets the old version string; on a downgrade the current (newer) version's codeChange
   * gets `{ down: target }`, as in OTP. It must be synchronous and pure: it is dry-run on
   * copies of live states before any process is touched.
   */
  codeChange?(from: CodeChangeFrom, state: unknown, extra: unknown): S;
  /**
   * The process is about to move to another runtime (rt.move.capture): release what cannot
   * move (flush and close a file, say) and return the state to carry. Synchronous. If it
   * throws, the process is not moved and runs on here.
   */
  handOver?(state: S, ctx: ProcessContext): S;
  /**
   * The process runs again after a capture: in the runtime it moved to, or back here when
   * the move was aborted. Take up what handOver released (reopen the file). Synchronous;
   * if it throws, the process crashes as from any callback.
   */
  takeOver?(state: S, ctx: ProcessContext): S;
}

// biome-ignore lint/suspicious/noExplicitAny: the runtime stores behaviours of every type side by side
export type AnyBehaviour = Behaviour<any, any, any>;

export const reply = <S, R>(value: R, state: S): CallResult<S, R> => ({ type: 'reply', reply: value, state });
export const noreply = <S>(state: S): { readonly type: 'noreply'; readonly state: S } => ({
  type: 'noreply',
  state,
});
export const stop = <S>(
  reason: ExitReason,
  state: S,
): { readonly type: 'stop'; readonly reason: ExitReason; readonly state: S } => ({
  type: 'stop',
  reason,
  state,
});
