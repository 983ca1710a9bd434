/** What both supervisor kinds share: restart policy, restart intensity, child shutdown. */
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import type { ProcessContext } from './behaviour.ts';
import { type ExitReason, isAbnormal, kill, shutdown } from './exit-reason.ts';
import type { Pid } from './pid.ts';

export type RestartType = 'permanent' | 'transient' | 'temporary';
/** Milliseconds to wait for a clean exit before killing, or kill at once, or wait forever. */
export type ShutdownSpec = number | 'brutal_kill' | 'infinity';

export interface Intensity {
  /** At most this many restarts... */
  intensity: number;
  /** ...within this many milliseconds, or the supervisor gives up and exits. */
  periodMs: number;
  /** Times of recent restarts (epoch ms), oldest first. Plain data: part of the state. */
  restarts: number[];
}

export const DEFAULT_INTENSITY = 1;
export const DEFAULT_PERIOD_MS = 5000;
export const DEFAULT_SHUTDOWN_MS = 5000;

export const giveUp: ExitReason = Object.freeze({
  type: 'shutdown',
  detail: 'reached_max_restart_intensity',
});

export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  return restart === 'permanent' || (restart === 'transient' && isAbnormal(reason));
}

/** Count one restart now. False when that exceeds the intensity: the supervisor must exit. */
export function recordRestart(limits: Intensity, now: number): boolean {
  const since = now - limits.periodMs;
  while (limits.restarts.length > 0 && (limits.restarts[0] as number) <= since) limits.restarts.shift();
  limits.restarts.push(now);
  return limits.restarts.length <= limits.intensity;
}

/**
 * Stop a child as OTP does: unlink (so no EXIT arrives for it), ask it to shut down, and
 * kill it if it has not ended within its shutdown time.
 */
export async function shutdownChild(ctx: ProcessContext, pid: Pid, spec: ShutdownSpec): Promise<void> {
  ctx.unlink(pid);
  if (spec === 'brutal_kill') {
    ctx.exit(pid, kill);
    return;
  }
  ctx.exit(pid, shutdown);
  const ended = await ctx.awaitExit(pid, spec === 'infinity' ? Number.POSITIVE_INFINITY : spec);
  if (ended === undefined) ctx.exit(pid, kill);
}

export function validIntensity(intensity: number, periodMs: number): string | undefined {
  if (!Number.isInteger(intensity) || intensity < 0) return 'intensity must be a whole number >= 0';
  if (!(periodMs > 0)) return 'periodMs must be > 0';
  return undefined;
}

/** Why a restart type or shutdown spec is invalid, or undefined when both are valid. */
export function validChildPolicy(restart: unknown, shutdown: unknown): string | undefined {
  if (restart !== 'permanent' && restart !== 'transient' && restart !== 'temporary')
    return `restart ${String(restart)}`;
  if (
    shutdown !== 'brutal_kill' &&
    shutdown !== 'infinity' &&
    !(typeof shutdown === 'number' && shutdown >= 0)
  )
    return `shutdown ${String(shutdown)}`;
  return undefined;
}

/** Start args become part of a supervisor's state, which must stay plain data. */
export function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/** The typed error for a call a supervisor does not know (a bad admin request must not crash it). */
export function unknownRequest(message: unknown): HotlineError {
  const type = (message as { type?: unknown } | null)?.type;
  return hotlineError('HOT_ERR_UNKNOWN_REQUEST', typeof type === 'string' ? type : typeof message);
}
