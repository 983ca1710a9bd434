/** Runtimes as tests want them (state checked, a simulated clock), test behaviours, and ways to wait on a runtime. */
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type Behaviour,
  type CastResult,
  type ExitReason,
  noreply,
  type Pid,
  type ProcessContext,
  Runtime,
  type RuntimeEventMap,
  type RuntimeOptions,
  reply,
  SimulatedClock,
  shutdown,
  stop,
} from '../../server/runtime/index.ts';
import type { Process } from '../../server/runtime/process.ts';

/** A runtime as tests want it: state checked for structuredClone after every callback. */
export function newRuntime(options: RuntimeOptions = {}): Runtime {
  return new Runtime({ node: 'test', checkState: true, ...options });
}

/** A runtime on a simulated clock: timers and call timeouts move only with `clock.advance`. */
export function simulatedRuntime(options: RuntimeOptions = {}): { rt: Runtime; clock: SimulatedClock } {
  const clock = new SimulatedClock(1_000_000);
  return { rt: newRuntime({ clock, ...options }), clock };
}

/**
 * Let the scheduler run every runnable process, and pending promise callbacks settle, for a
 * few rounds (settleUntilQuiet in release-fixtures.ts waits until nothing is busy instead).
 */
export async function settleBriefly(rt: Runtime): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await rt.idle();
    await new Promise((r) => setImmediate(r));
  }
}

export interface RecorderState {
  seen: unknown[];
}

export type RecorderCall =
  | { type: 'seen' }
  | { type: 'echo'; value: unknown }
  | { type: 'crash'; message: string };

/** Records every cast and info message in order; answers calls with what it has seen. */
export const recorder: Behaviour<
  RecorderState,
  { trapExit?: boolean } | undefined,
  { call: RecorderCall; reply: unknown; cast: unknown; info: unknown }
> = {
  name: 'recorder',
  version: '1.0.0',
  init(args, ctx) {
    if (args?.trapExit) ctx.trapExit(true);
    return { seen: [] };
  },
  handleCall(message, _from, state) {
    switch (message.type) {
      case 'seen':
        return reply([...state.seen], state);
      case 'echo':
        return reply(message.value, state);
      case 'crash':
        throw new Error(message.message);
    }
  },
  handleCast(message, state): CastResult<RecorderState> {
    state.seen.push(message);
    return noreply(state);
  },
  handleInfo(message, state): CastResult<RecorderState> {
    state.seen.push(message);
    return noreply(state);
  },
};

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** A promise with its resolve and reject at hand: the body of an async callback a test controls. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The error `fn` throws; fails the test if it returns normally. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the function to throw');
}

/** The `HOT_ERR_*` code of a Hotline error; anything else as it is, so a surprise shows in the diff. */
export const errorCode = (err: unknown): unknown => (HotlineError.is(err) ? err.code : err);

/** Every exit reason the runtime reports from now on, by pid. */
export function exitLog(rt: Runtime): Map<Pid, ExitReason> {
  const log = new Map<Pid, ExitReason>();
  rt.events.on('exit', (e) => log.set(e.pid, e.reason));
  return log;
}

/**
 * settleBriefly() until every process waits at a message boundary (none has mail, is inside a
 * callback or is ending), or `maxRounds` rounds have passed. True when the runtime is quiet.
 * Chains of async steps (a supervisor stopping children one by one) need more than settleBriefly's rounds.
 */
export async function quiesce(rt: Runtime, maxRounds = 500): Promise<boolean> {
  for (let i = 0; i < maxRounds; i++) {
    await rt.idle();
    await new Promise((r) => setImmediate(r));
    if (rt.scheduler.runnable === 0 && [...rt.processes()].every((p) => p.status === 'waiting')) return true;
  }
  return false;
}

/**
 * Spawn `module` linked to a parent process of its own, so it can be stopped as OTP stops a
 * supervisor: its parent ends, and a process that traps exits stops on its parent's EXIT.
 * (An exit signal from anyone else is only a message to a supervisor, and is ignored.)
 */
export function spawnWithParent(
  rt: Runtime,
  module: string,
  args: unknown,
): { pid: Pid; parent: Pid; stop(reason?: ExitReason): void } {
  const parent = rt.spawn(recorder);
  const pid = rt.spawn(module, args, { parent, link: true });
  return { pid, parent, stop: (reason = shutdown) => rt.exit(parent, reason) };
}

export interface WorkerArgs {
  /** Trap exits; the worker then stops through terminate when its parent's EXIT arrives. */
  trapExit?: boolean;
  /** Make init throw. */
  failInit?: boolean;
  /** Any plain data, answered by the 'args' call. */
  tag?: unknown;
}

export interface WorkerState {
  args: WorkerArgs;
}

export type WorkerCast = { type: 'stop'; reason: ExitReason } | { type: 'crash'; message: string };

export interface WorkerMessages {
  call: { type: 'args' };
  reply: WorkerArgs;
  cast: WorkerCast;
  info: unknown;
}

/**
 * A supervised worker named `name`: stops with any reason or crashes on request, and, when
 * it traps exits, stops (through `terminate`, which a test may make slow) on its parent's EXIT.
 */
export function worker(
  name: string,
  terminate?: (reason: ExitReason, state: WorkerState, ctx: ProcessContext) => void | Promise<void>,
): Behaviour<WorkerState, WorkerArgs | undefined, WorkerMessages> {
  return {
    name,
    version: '1.0.0',
    init(args = {}, ctx) {
      if (args.failInit) throw new Error(`${name} refuses to start`);
      if (args.trapExit) ctx.trapExit(true);
      return { args };
    },
    handleCall(_message, _from, state) {
      return reply(state.args, state);
    },
    handleCast(message, state) {
      if (message.type === 'crash') throw new Error(message.message);
      return stop(message.reason, state);
    },
    handleInfo(message, state, ctx) {
      const info = message as { type?: unknown; from?: unknown; reason?: ExitReason };
      if (info.type === 'EXIT' && info.from === ctx.parent && info.reason) return stop(info.reason, state);
      return noreply(state);
    },
    ...(terminate === undefined ? {} : { terminate }),
  };
}

/** The live process behind `pid`, for its bookkeeping; fails the test if it has ended. */
export function live(rt: Runtime, pid: Pid): NonNullable<ReturnType<Runtime['lookup']>> {
  const p = rt.lookup(pid);
  if (p === undefined) throw new Error(`${pid} is not alive`);
  return p;
}

/**
 * The kernel's own record of `pid`, for tests of its bookkeeping (waiter lists): code
 * outside the runtime gets only the read-only view `lookup` returns.
 */
export function kernelProcess(rt: Runtime, pid: Pid): Process | undefined {
  return rt.lookup(pid) as Process | undefined;
}

/** The error inside an `error` exit reason; undefined for any other reason. */
export function errorOf(reason: ExitReason | undefined): unknown {
  return reason?.type === 'error' ? reason.error : undefined;
}

/** Every event of `type` the runtime emits from now on, in order. */
export function eventLog<K extends keyof RuntimeEventMap>(rt: Runtime, type: K): RuntimeEventMap[K][] {
  const log: RuntimeEventMap[K][] = [];
  rt.events.on(type, (e) => log.push(e));
  return log;
}

export interface Outcome<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

/** Watch a promise without awaiting it: how it ended so far (a rejection is never left unhandled). */
export function outcome<T>(promise: Promise<T>): Outcome<T> {
  const o: Outcome<T> = { settled: false };
  promise.then(
    (value) => {
      o.settled = true;
      o.value = value;
    },
    (error: unknown) => {
      o.settled = true;
      o.error = error;
    },
  );
  return o;
}
