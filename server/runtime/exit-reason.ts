/** Why a process ended. `kill` exists only as a signal; the process then ends `killed`. */
export type ExitReason =
  | { readonly type: 'normal' }
  | { readonly type: 'shutdown'; readonly detail?: string }
  | { readonly type: 'error'; readonly error: unknown }
  | { readonly type: 'kill' }
  | { readonly type: 'killed' }
  | { readonly type: 'noproc' }
  /** The process's node went away (or could not be reached): what a remote monitor or link reports. */
  | { readonly type: 'noconnection' };

export const normal: ExitReason = Object.freeze({ type: 'normal' });
export const shutdown: ExitReason = Object.freeze({ type: 'shutdown' });
export const kill: ExitReason = Object.freeze({ type: 'kill' });
export const killed: ExitReason = Object.freeze({ type: 'killed' });
export const noproc: ExitReason = Object.freeze({ type: 'noproc' });
export const noconnection: ExitReason = Object.freeze({ type: 'noconnection' });

export function errorReason(error: unknown): ExitReason {
  return { type: 'error', error };
}

/** Normal and shutdown ends are expected: transient children are not restarted for them. */
export function isAbnormal(reason: ExitReason): boolean {
  return reason.type !== 'normal' && reason.type !== 'shutdown';
}

export function describeReason(reason: ExitReason): string {
  switch (reason.type) {
    case 'error': {
      const e = reason.error as { code?: unknown; message?: unknown } | undefined;
      const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
      return `error (${code}${typeof e?.message === 'string' ? e.message : String(reason.error)})`;
    }
    case 'shutdown':
      return reason.detail ? `shutdown (${reason.detail})` : 'shutdown';
    default:
      return reason.type;
  }
}
