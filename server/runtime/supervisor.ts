/**
 * The supervisor behaviour: a fixed list of children, started in order, restarted by a
 * strategy, shut down in reverse order. Its state is plain data (child specs name their
 * behaviour module), so it can be inspected, cloned and migrated like any other state.
 */
import { HotlineError, hotlineError } from '../errors/catalogue.ts';
import {
  type Behaviour,
  type CastResult,
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

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export interface ChildSpec {
  id: string;
  start: { module: string; args?: unknown };
  restart?: RestartType;
  shutdown?: ShutdownSpec;
  type?: 'worker' | 'supervisor';
}

export interface SupervisorArgs {
  strategy?: Strategy;
  intensity?: number;
  periodMs?: number;
  children: ChildSpec[];
}

interface Child {
  spec: Required<ChildSpec>;
  pid: Pid | null;
}

export interface SupervisorState extends Intensity {
  strategy: Strategy;
  children: Child[];
}

export interface ChildInfo {
  id: string;
  pid: Pid | null;
  type: 'worker' | 'supervisor';
  module: string;
}

export type SupervisorCall =
  | { type: 'which_children' }
  | { type: 'start_child'; spec: ChildSpec }
  | { type: 'terminate_child'; id: string }
  | { type: 'restart_child'; id: string }
  | { type: 'delete_child'; id: string };

export type SupervisorReply =
  | { ok: true; pid?: Pid | null; children?: ChildInfo[] }
  | { ok: false; error: HotlineError };

export interface SupervisorMessages extends MessageMap {
  call: SupervisorCall;
  reply: SupervisorReply;
  cast: never;
  info: never;
}

function normalize(spec: ChildSpec): Required<ChildSpec> {
  if (typeof spec?.id !== 'string' || spec.id === '')
    throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', 'id must be a non-empty string');
  if (typeof spec.start?.module !== 'string')
    throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', `${spec.id}: start.module must name a behaviour`);
  const restart = spec.restart ?? 'permanent';
  const type = spec.type ?? 'worker';
  if (type !== 'worker' && type !== 'supervisor')
    throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', `${spec.id}: type ${String(type)}`);
  // Supervisors get time to shut their own children down.
  const shutdown = spec.shutdown ?? (type === 'supervisor' ? 'infinity' : DEFAULT_SHUTDOWN_MS);
  const invalid = validChildPolicy(restart, shutdown);
  if (invalid) throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', `${spec.id}: ${invalid}`);
  if (!cloneable(spec.start.args))
    throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', `${spec.id}: start.args must survive structuredClone`);
  return {
    id: spec.id,
    start: { module: spec.start.module, args: spec.start.args },
    restart,
    shutdown,
    type,
  };
}

function start(ctx: ProcessContext, child: Child, restartOf?: string): Pid {
  const pid = ctx.spawn(child.spec.start.module, child.spec.start.args, {
    link: true,
    ...(restartOf === undefined ? {} : { restartOf: { supervisor: ctx.self, childId: restartOf } }),
  });
  child.pid = pid;
  return pid;
}

async function stopChild(ctx: ProcessContext, child: Child): Promise<void> {
  if (child.pid === null) return;
  const pid = child.pid;
  child.pid = null;
  await shutdownChild(ctx, pid, child.spec.shutdown);
}

/** Start (restart) children in order; each failed start counts as one more restart. */
function restartAll(ctx: ProcessContext, state: SupervisorState, group: Child[]): boolean {
  for (const child of group) {
    for (;;) {
      try {
        start(ctx, child, child.spec.id);
        break;
      } catch {
        if (!recordRestart(state, ctx.now())) return false;
      }
    }
  }
  return true;
}

/**
 * Apply the restart strategy to a child that exited. Synchronous unless running siblings
 * must be stopped first: a supervisor under load takes many exits in one turn.
 */
function onChildExit(
  ctx: ProcessContext,
  state: SupervisorState,
  child: Child,
  reason: SystemInfo & { type: 'EXIT' },
): CastResult<SupervisorState> | Promise<CastResult<SupervisorState>> {
  child.pid = null;
  if (!shouldRestart(child.spec.restart, reason.reason)) {
    if (child.spec.restart === 'temporary') state.children.splice(state.children.indexOf(child), 1);
    return noreply(state);
  }
  if (!recordRestart(state, ctx.now())) return stop(giveUp, state);
  const at = state.children.indexOf(child);
  const group =
    state.strategy === 'one_for_one'
      ? [child]
      : state.strategy === 'one_for_all'
        ? [...state.children]
        : state.children.slice(at);
  const restart = (): CastResult<SupervisorState> => {
    // Temporary siblings that were stopped are not restarted by anyone.
    const restartable = group.filter((c) => c === child || c.spec.restart !== 'temporary');
    state.children = state.children.filter((c) => !group.includes(c) || restartable.includes(c));
    return restartAll(ctx, state, restartable) ? noreply(state) : stop(giveUp, state);
  };
  const running = [...group].reverse().filter((c) => c.pid !== null);
  if (running.length === 0) return restart();
  return (async () => {
    for (const sibling of running) await stopChild(ctx, sibling);
    return restart();
  })();
}

const ok = (extra: Omit<Extract<SupervisorReply, { ok: true }>, 'ok'> = {}): SupervisorReply => ({
  ok: true,
  ...extra,
});
const fail = (error: unknown): SupervisorReply => ({
  ok: false,
  error: error instanceof HotlineError ? error : hotlineError('HOT_ERR_INVALID_CHILD_SPEC', String(error)),
});

export const supervisor: Behaviour<SupervisorState, SupervisorArgs, SupervisorMessages> = {
  name: 'supervisor',
  version: '1.0.0',

  init(args, ctx) {
    const intensity = args.intensity ?? DEFAULT_INTENSITY;
    const periodMs = args.periodMs ?? DEFAULT_PERIOD_MS;
    const invalid = validIntensity(intensity, periodMs);
    if (invalid) throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', invalid);
    const children = args.children.map((spec) => ({ spec: normalize(spec), pid: null }));
    const ids = new Set(children.map((c) => c.spec.id));
    if (ids.size !== children.length)
      throw hotlineError('HOT_ERR_INVALID_CHILD_SPEC', 'child ids must be unique');
    ctx.trapExit(true);
    const state: SupervisorState = {
      strategy: args.strategy ?? 'one_for_one',
      intensity,
      periodMs,
      restarts: [],
      children,
    };
    for (const child of children) {
      try {
        start(ctx, child);
      } catch (err) {
        // A child that cannot start fails the supervisor's start; stop the ones already up.
        for (const started of children) if (started.pid !== null) ctx.exit(started.pid, { type: 'kill' });
        throw err;
      }
    }
    return state;
  },

  handleCall(message, _from, state, ctx) {
    const find = (id: string) => state.children.find((c) => c.spec.id === id);
    switch (message.type) {
      case 'which_children':
        return reply(
          ok({
            children: state.children.map((c) => ({
              id: c.spec.id,
              pid: c.pid,
              type: c.spec.type,
              module: c.spec.start.module,
            })),
          }),
          state,
        );
      case 'start_child': {
        let child: Child;
        try {
          child = { spec: normalize(message.spec), pid: null };
          if (find(child.spec.id)) throw hotlineError('HOT_ERR_CHILD_EXISTS', child.spec.id);
          start(ctx, child);
        } catch (err) {
          return reply(fail(err), state);
        }
        state.children.push(child);
        return reply(ok({ pid: child.pid }), state);
      }
      case 'terminate_child': {
        const child = find(message.id);
        if (!child) return reply(fail(hotlineError('HOT_ERR_NO_CHILD', message.id)), state);
        return (async () => {
          await stopChild(ctx, child);
          if (child.spec.restart === 'temporary') state.children.splice(state.children.indexOf(child), 1);
          return reply(ok(), state);
        })();
      }
      case 'restart_child': {
        const child = find(message.id);
        if (!child) return reply(fail(hotlineError('HOT_ERR_NO_CHILD', message.id)), state);
        if (child.pid !== null) return reply(fail(hotlineError('HOT_ERR_CHILD_EXISTS', message.id)), state);
        try {
          start(ctx, child);
        } catch (err) {
          return reply(fail(err), state);
        }
        return reply(ok({ pid: child.pid }), state);
      }
      case 'delete_child': {
        const child = find(message.id);
        if (!child) return reply(fail(hotlineError('HOT_ERR_NO_CHILD', message.id)), state);
        if (child.pid !== null) return reply(fail(hotlineError('HOT_ERR_CHILD_EXISTS', message.id)), state);
        state.children.splice(state.children.indexOf(child), 1);
        return reply(ok(), state);
      }
      default:
        return reply(fail(unknownRequest(message)), state);
    }
  },

  handleInfo(message, state, ctx) {
    const info = message as SystemInfo;
    if (info.type !== 'EXIT') return noreply(state);
    const child = state.children.find((c) => c.pid === info.from);
    if (child) return onChildExit(ctx, state, child, info);
    // Our parent ending takes us (and our children) down with it.
    if (info.from === ctx.parent) return stop(info.reason, state);
    return noreply(state);
  },

  async terminate(_reason, state, ctx) {
    for (const child of [...state.children].reverse()) await stopChild(ctx, child);
  },
};

/** Client calls: they unwrap the supervisor's reply and throw its typed error. */
export async function whichChildren(
  ctx: Pick<ProcessContext, 'call'>,
  sup: Pid<SupervisorMessages> | string,
): Promise<ChildInfo[]> {
  return unwrap(await ctx.call(sup, { type: 'which_children' })).children ?? [];
}

export async function supervisorCall(
  ctx: Pick<ProcessContext, 'call'>,
  sup: Pid<SupervisorMessages> | string,
  message: Exclude<SupervisorCall, { type: 'which_children' }>,
): Promise<Pid | null> {
  return unwrap(await ctx.call(sup, message)).pid ?? null;
}

function unwrap(r: SupervisorReply): Extract<SupervisorReply, { ok: true }> {
  if (!r.ok) throw r.error;
  return r;
}
