/**
 * Kit v1's migration helpers: the steps a codeChange between 1.x states is made of. Which
 * versions a release migrates from and to is its manifest's (release.json) to say; these
 * only reshape a state. Each is pure: it builds a new state and leaves the old one as it was.
 */
import type { CodeChangeFrom } from '../../../runtime/index.ts';
import type { StateV11 } from './call-info.ts';
import type { SessionState } from './call-model.ts';

/** The one 1.x release whose calls have no call_info counter. */
export const V100 = '1.0.0';

/** A call's releases with `version` added once: the CDR names every release that handled the call. */
export const withVersion = (versions: readonly string[], version: string): string[] =>
  versions.includes(version) ? [...versions] : [...versions, version];

/** The state with `version` added to its call's versions (a migration with a call in progress). */
export function stamped<S extends SessionState>(s: S, version: string): S {
  return s.call === null ? s : { ...s, call: { ...s.call, versions: withVersion(s.call.versions, version) } };
}

/** 1.0.0's state in 1.1.0's shape: a call gets its counter, at 0. */
export const withInfoCounter = (s: SessionState): StateV11 => ({
  ...s,
  call: s.call === null ? null : { ...s.call, infoRequests: 0 },
});

/** 1.1.0's state in 1.0.0's shape: the counter goes. */
export function withoutInfoCounter(s: StateV11): SessionState {
  if (s.call === null) return { ...s, call: null };
  const { infoRequests: _dropped, ...call } = s.call;
  return { ...s, call };
}

/**
 * codeChange of a release with 1.1.0's state (`self`): up from 1.0.0 adds the counter; down
 * to 1.0.0 drops it; to or from a release of the same shape only the call's versions change.
 */
export function migrationsV11(self: string) {
  return (from: CodeChangeFrom, state: unknown): StateV11 | SessionState => {
    if (typeof from === 'string')
      return stamped(from === V100 ? withInfoCounter(state as SessionState) : (state as StateV11), self);
    return from.down === V100
      ? stamped(withoutInfoCounter(state as StateV11), V100)
      : stamped(state as StateV11, from.down);
  };
}
