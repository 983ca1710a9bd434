/**
 * Release 1.1.0 of the call session: 1.0.0's session (its code, imported, not copied) plus
 * `call_info`, which tells a phone where its call is: state, duration, media counts and the
 * release answering. The state it adds is a per-call counter of call_info requests
 * (`infoRequests`); codeChange adds it on the way up from 1.0.0 and drops it on the way down.
 *
 * The migration helpers here serve every release with this state shape (the faulty 1.2.0
 * variants) and 2.0.0, which migrates from and to it.
 */
import type { AppupEntry } from '../../../release/module.ts';
import type { CodeChangeFrom } from '../../../runtime/index.ts';
import type { ServerMessage } from '../../protocol/shipped.ts';
import {
  type Call,
  type Ctx,
  handlersFor,
  onCall,
  type PhoneHandlers,
  type SessionState,
  sessionBehaviour,
  toPhone,
  VERSION as V100,
} from '../1.0.0/session.ts';
import type { CallState } from './protocol.ts';

export const VERSION = '1.1.0';

export interface CallV11 extends Call {
  /** call_info requests this leg's phone made in the call. */
  infoRequests: number;
}

export interface StateV11 extends SessionState {
  call: CallV11 | null;
}

export interface Appup {
  upgradeFrom: AppupEntry[];
  downgradeTo: AppupEntry[];
}

/** The facts call_info reports, however a release keeps them. */
export interface CallFacts {
  callId: string;
  state: CallState;
  answeredAt: number | null;
  mediaOut: number;
  mediaIn: number;
}

/** call_info's answer, from this leg's side: the duration runs from this leg's answer, as in `ended`. */
export const callInfo = (ctx: Ctx, c: CallFacts, release: string): ServerMessage => ({
  type: 'call_info',
  callId: c.callId,
  state: c.state,
  durationMs: c.answeredAt === null ? 0 : ctx.now() - c.answeredAt,
  mediaOut: c.mediaOut,
  mediaIn: c.mediaIn,
  release,
});

/** What a release with 1.1.0's call model runs: 1.0.0's handlers, call_info, the counter on new calls. */
export const specV11 = {
  callFields: (): Omit<CallV11, keyof Call> => ({ infoRequests: 0 }),
  fromPhone: {
    ...handlersFor<StateV11>(),
    call_info: (m, s, ctx, r) =>
      // Allowed in every state of the call: it changes nothing but the counter.
      onCall(
        m,
        s,
        ctx,
        () => true,
        (call) => {
          call.infoRequests++;
          toPhone(ctx, s, callInfo(ctx, { ...call, state: call.held ? 'held' : call.phase }, r.version));
        },
      ),
  } satisfies PhoneHandlers<StateV11>,
};

// ---- code change ----

/**
 * The version a codeChange moves from (up) or to (down), when the release's appup declares
 * it. Anything else throws: a state of unknown shape is never guessed at, and the process
 * keeps its code and state.
 */
export function appupVersion(from: CodeChangeFrom, appup: Appup, self: string): string {
  const [entries, version, way] =
    typeof from === 'string'
      ? [appup.upgradeFrom, from, 'up from']
      : [appup.downgradeTo, from.down, 'down to'];
  if (!entries.some((e) => e.version === version))
    throw new Error(`session ${self} cannot migrate ${way} ${version}: its appup does not declare it`);
  return version;
}

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
 * codeChange of a release with 1.1.0's state (`self`), for exactly its appup: up from 1.0.0
 * adds the counter; down to 1.0.0 drops it; to or from a release of the same shape only the
 * call's versions change. Pure: it builds a new state and leaves the old one as it was.
 */
export function migrationsV11(self: string, appup: Appup) {
  return (from: CodeChangeFrom, state: unknown): StateV11 | SessionState => {
    const other = appupVersion(from, appup, self);
    if (typeof from === 'string')
      return stamped(other === V100 ? withInfoCounter(state as SessionState) : (state as StateV11), self);
    return other === V100
      ? stamped(withoutInfoCounter(state as StateV11), V100)
      : stamped(state as StateV11, other);
  };
}

export const appup: Appup = { upgradeFrom: [{ version: V100 }], downgradeTo: [{ version: V100 }] };

export const session = sessionBehaviour<StateV11>({
  ...specV11,
  version: VERSION,
  codeChange: migrationsV11(VERSION, appup),
});

/**
 * The appup of the releases after 1.1.0 (2.0.0, the 1.2.0 variants): up from 1.1.0 or
 * straight from 1.0.0, and back down to either, so an install from 1.0.0 can be rolled back.
 */
export const afterV11: Appup = {
  upgradeFrom: [{ version: VERSION }, { version: V100 }],
  downgradeTo: [{ version: VERSION }, { version: V100 }],
};

/**
 * A session that is 1.1.0's code and state under another version (the faulty 1.2.0 variants):
 * `fromPhone` replaces some handlers, and `vetoMigration` may throw before a migration.
 */
export function variantOfV11(
  version: string,
  change: {
    fromPhone?: PhoneHandlers<StateV11>;
    vetoMigration?: (from: CodeChangeFrom, state: unknown) => void;
  },
) {
  const migrate = migrationsV11(version, afterV11);
  return sessionBehaviour<StateV11>({
    ...specV11,
    version,
    fromPhone: { ...specV11.fromPhone, ...change.fromPhone },
    codeChange(from, state) {
      change.vetoMigration?.(from, state);
      return migrate(from, state);
    },
  });
}
