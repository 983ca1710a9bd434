/**
 * A dynamic supervisor: many children of one spec, started on demand (one per call
 * session), each restarted alone. Children are kept in a Map keyed by pid (plain data,
 * so the state survives structuredClone); shutdown stops them all in parallel.
 */
import { HotlineError, hotlineError } from '../errors/catalogue.ts';
import {
  type Behaviour,
  type MessageMap,
  noreply,
  type ProcessContext,
  reply,
  type SystemInfo,
  stop,
} from './behaviour.ts';
import {
  cloneable,
  DEFAULT_INTENSITY,
  DEFAULT_PERIOD_MS,
  DEFAULT_SHUTDOWN_MS,
  giveUp,
  type Intensity,
  type RestartType,
  recordRestart,
  type ShutdownSpec,
  shouldRestart,
  shutdownChild,
  unknownRequest,
  validChildPolicy,
  validIntensity,
} from './child.ts';
import type { Pid } from './pid.ts';

export interface DynamicSupervisorArgs {
  module: string;
  /** Register under this name, so clients keep finding it after a restart. */
  name?: string;
  restart?: RestartType;
  shutdown?: ShutdownSpec;
  intensity?: number;
  periodMs?: number;
  maxChildren?: number;
}

export interface DynamicSupervisorState extends Intensity {
  module: string;
  restart: RestartType;
  shutdown: ShutdownSpec;
  maxChildren: number;
  /** Child pid → the args it was started with (and is restarted with). */
  children: Map<Pid, unknown>;
}

export type DynamicSupervisorCall =
  | { type: 'start_child'; args: unknown }
  | { type: 'terminate_child'; pid: Pid }
  | { type: 'count_children' };

export type DynamicSupervisorReply =
  | { ok: true; pid?: Pid; count?: number }
  | { ok: false; error: HotlineError };

export interface DynamicSupervisorMessages extends MessageMap {
  call: DynamicSupervisorCall;
  reply: DynamicSupervisorReply;
  cast: never;
  info: never;
}

const failure = (err: unknown): DynamicSupervisorReply => ({
  ok: false,
  error: err instanceof HotlineError ? err : hotlineError('HOT_ERR_INIT_FAILED', String(err)),
});

export const dynamicSupervisor: Behaviour<
  DynamicSupervisorState,
  DynamicSupervisorArgs,
  DynamicSupervisorMessages
> = {
  name: 'dynamic_supervisor',
  version: '1.0.0',

  init(args, ctx) {
    const intensity = args.intensity ?? DEFAULT_INTENSITY;
    const periodMs = args.periodMs ?? DEFAULT_PERIOD_MS;
    const restart = args.restart ?? 'temporary';
    const shutdown = args.shutdown ?? DEFAULT_SHUTDOWN_MS;
    const maxChildren = args.maxChildren ?? Number.POSITIVE_INFINITY;
    const invalid =
      validIntensity(intensity, periodMs) ??
      validChildPolicy(restart, shutdown) ??
      (maxChildren >= 0 ? undefined : 'maxChildren must be >= 0');
    if (invalid) throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', invalid);
    ctx.trapExit(true);
    if (args.name !== undefined) ctx.register(args.name);
    return {
      module: args.module,
      restart,
      shutdown,
      maxChildren,
      intensity,
      periodMs,
      restarts: [],
      children: new Map(),
    };
  },

  handleCall(message, _from, state, ctx) {
    switch (message.type) {
      case 'start_child': {
        if (state.children.size >= state.maxChildren) {
          return reply(failure(hotlineError('HOT_ERR_MAX_CHILDREN', state.maxChildren)), state);
        }
        // The args are kept in the state (to restart with), which must stay plain data.
        if (!cloneable(message.args)) {
          const why = 'start args must survive structuredClone';
          return reply(failure(hotlineError('HOT_ERR_INVALID_CHILD_SPEC', why)), state);
        }
        try {
          const pid = ctx.spawn(state.module, message.args, { link: true });
          state.children.set(pid, message.args);
          return reply({ ok: true, pid }, state);
        } catch (err) {
          return reply(failure(err), state);
        }
      }
      case 'terminate_child': {
        if (!state.children.delete(message.pid)) {
          return reply(failure(hotlineError('HOT_ERR_NO_CHILD', message.pid)), state);
        }
        return shutdownChild(ctx, message.pid, state.shutdown).then(() => reply({ ok: true }, state));
      }
      case 'count_children':
        return reply({ ok: true, count: state.children.size }, state);
      default:
        return reply(failure(unknownRequest(message)), state);
    }
  },

  handleInfo(message, state, ctx) {
    const info = message as SystemInfo;
    if (info.type !== 'EXIT') return noreply(state);
    if (!state.children.has(info.from)) {
      return info.from === ctx.parent ? stop(info.reason, state) : noreply(state);
    }
    const args = state.children.get(info.from);
    state.children.delete(info.from);
    if (!shouldRestart(state.restart, info.reason)) return noreply(state);
    for (;;) {
      if (!recordRestart(state, ctx.now())) return stop(giveUp, state);
      try {
        const pid = ctx.spawn(state.module, args, {
          link: true,
          restartOf: { supervisor: ctx.self, childId: info.from },
        });
        state.children.set(pid, args);
        return noreply(state);
      } catch {
        // counted as one more restart on the next turn of the loop
      }
    }
  },

  async terminate(_reason, state, ctx) {
    const pids = [...state.children.keys()];
    state.children.clear();
    await Promise.all(pids.map((pid) => shutdownChild(ctx, pid, state.shutdown)));
  },
};

/** Start one child; throws the supervisor's typed error if it cannot. */
export async function startChild(
  ctx: Pick<ProcessContext, 'call'>,
  sup: Pid<DynamicSupervisorMessages> | string,
  args: unknown,
  timeoutMs?: number,
): Promise<Pid> {
  const r = await ctx.call(sup, { type: 'start_child', args }, timeoutMs);
  if (!r.ok) throw r.error;
  return r.pid as Pid;
}
