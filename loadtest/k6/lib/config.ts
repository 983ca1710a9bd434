/**
 * Settings from k6's environment (`k6 run -e NAME=value`), with defaults. Plain functions of
 * the env object, so a second script (or a test) can read the same names.
 */

export type Env = { readonly [name: string]: string | undefined };

/** k6-style durations: `1500ms`, `20s`, `1m30s`, `1h`; a bare number is milliseconds. */
export function durationMs(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('empty duration');
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = trimmed;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    const unit = m?.[2];
    if (m === null || unit === undefined) throw new Error(`not a duration: '${text}'`);
    total += Number(m[1]) * (unitMs[unit] ?? 0);
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** k6 wants durations as strings; whole seconds read best in its output. */
export function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.ceil(ms)}ms`;
}

export function text(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

export function count(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, got '${v}'`);
  return n;
}

export function duration(env: Env, name: string, fallback: string): number {
  return durationMs(text(env, name, fallback));
}

/** What one phone (one VU) does. */
export interface PhoneSettings {
  url: string;
  /** Media frames a second while a call is up. */
  mediaRate: number;
  /** From the answer to the bye. */
  callLengthMs: number;
  /** Calls placed on one connection (one k6 iteration) before it closes. */
  callsPerSession: number;
  /** Between the end of one call and the next invite. */
  pauseMs: number;
  /** Every n-th call goes to the IVR (with a DTMF digit) instead of the echo; 0: never. */
  ivrEvery: number;
  /** Longest wait for `registered`, `answered`, or `ended` after the bye. */
  timeoutMs: number;
  /** User names are `<prefix>-<runId>-<vu>-<iteration>`: unique per connection. */
  userPrefix: string;
  runId: string;
  /** Where each phone gets its token: the node's POST /admin/phone-tokens; null: none (an open-registration node). */
  tokens: { adminUrl: string; adminToken: string } | null;
}

export function phoneSettings(env: Env): PhoneSettings {
  return {
    url: text(env, 'HOTLINE_URL', 'ws://127.0.0.1:8080/calls'),
    mediaRate: count(env, 'MEDIA_RATE', 20),
    callLengthMs: duration(env, 'CALL_LENGTH', '10s'),
    callsPerSession: Math.max(1, Math.floor(count(env, 'CALLS_PER_SESSION', 3))),
    pauseMs: duration(env, 'CALL_PAUSE', '500ms'),
    ivrEvery: Math.floor(count(env, 'IVR_EVERY', 4)),
    timeoutMs: duration(env, 'CALL_TIMEOUT', '5s'),
    userPrefix: text(env, 'USER_PREFIX', 'k6'),
    // Init code runs once per VU, so each VU may pick another default: the VU number in the
    // user name keeps names unique anyway. Set RUN_ID to find a run's CDRs by name.
    runId: text(env, 'RUN_ID', Date.now().toString(36)),
    tokens:
      text(env, 'ADMIN_TOKEN', '') === ''
        ? null
        : {
            adminUrl: text(env, 'ADMIN_URL', 'http://127.0.0.1:8081').replace(/\/+$/, ''),
            adminToken: text(env, 'ADMIN_TOKEN', ''),
          },
  };
}

/** The longest one iteration (one connection) should take, for the scenario's gracefulStop. */
export function sessionBudgetMs(s: PhoneSettings): number {
  const ms = s.callsPerSession * (s.callLengthMs + s.pauseMs + 2 * s.timeoutMs) + 10_000;
  return Math.ceil(ms / 1000) * 1000;
}

/** The admin side: where to install what, and when. */
export interface AdminSettings {
  adminUrl: string;
  token: string;
  /** The release to install; no install scenario without it. */
  release: string | null;
  /** When the install starts, from the start of the test (a k6 duration string). */
  upgradeAt: string;
  /** The install's watch window (the node's default, 30 s, when unset). */
  watchMs: number | null;
  /** Give up polling GET /admin/install after this long. */
  timeoutMs: number;
  pollMs: number;
}

export function adminSettings(env: Env): AdminSettings {
  const release = text(env, 'RELEASE', '');
  const watch = text(env, 'INSTALL_WATCH', '');
  // Fail at start rather than with a 401 minutes into the run.
  if (release !== '' && text(env, 'ADMIN_TOKEN', '') === '')
    throw new Error('RELEASE is set but ADMIN_TOKEN is not: the admin API needs the bearer token');
  return {
    adminUrl: text(env, 'ADMIN_URL', 'http://127.0.0.1:8081').replace(/\/+$/, ''),
    token: text(env, 'ADMIN_TOKEN', ''),
    release: release === '' ? null : release,
    upgradeAt: text(env, 'UPGRADE_AT', '20s'),
    watchMs: watch === '' ? null : durationMs(watch),
    timeoutMs: duration(env, 'INSTALL_TIMEOUT', '2m'),
    pollMs: duration(env, 'INSTALL_POLL', '250ms'),
  };
}
