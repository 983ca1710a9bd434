/**
 * The k6 scripts of loadtest/k6, run by the adapter in test/k6/adapter (k6's modules on Node,
 * one worker thread per VU) against live nodes, so a protocol or admin API change that breaks
 * them breaks the build: phones in echo and IVR calls (with CDRs to match), a hot install
 * under them, a canary rolled back under them, and the options and handleSummary k6 reads.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { ClientFrame, ServerFrame } from '../../loadtest/k6/lib/protocol.ts';
import type { SummaryData } from '../../loadtest/k6/lib/summary.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import type { ClientMessage, ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import { buildArtifact, upload, useTrustingNodes } from '../support/call-releases.ts';
import { fetchCdrs, waitForCdrs } from '../support/cdrs.ts';
import type { TestNode } from '../support/test-node.ts';
import { initScript, type K6Run, runK6 } from './adapter/runner.ts';
import { parseThresholds } from './adapter/stats.ts';

// ---- compile time: the frames the scripts restate must still be the server's ----

// Every frame a script sends is a valid client message.
const sends: ClientFrame extends ClientMessage ? true : never = true;
// Every server message a script reads still exists and has at least the fields it reads.
type Reads = {
  [T in ServerFrame['type']]: [Extract<ServerMessage, { type: T }>] extends [never]
    ? never
    : Extract<ServerMessage, { type: T }> extends Extract<ServerFrame, { type: T }>
      ? true
      : never;
}[ServerFrame['type']];
const reads: Reads = true;

const CALLS = fileURLToPath(new URL('../../loadtest/k6/calls.ts', import.meta.url));
const ROLLBACK = fileURLToPath(new URL('../../loadtest/k6/rollback.ts', import.meta.url));

/** A run is a few seconds, plus VU startup and its gracefulStop should a phone hang. */
const RUN_TIMEOUT_MS = 90_000;

const trusting = useTrustingNodes();
const node = trusting.node;

beforeAll(() => {
  expect([sends, reads]).toEqual([true, true]);
});

/**
 * A short run: 3 phones, two calls per connection of under a second, every second call to the
 * IVR. The timing thresholds are loosened (the node shares two cores with the whole suite);
 * the count thresholds (drops, lost media, error frames) are the script's own.
 */
function env(n: TestNode, runId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOTLINE_URL: n.callsUrl,
    ADMIN_URL: n.adminUrl,
    ADMIN_TOKEN: n.adminToken,
    RUN_ID: runId,
    PHONES: '3',
    DURATION: '3s',
    CALL_LENGTH: '800ms',
    CALLS_PER_SESSION: '2',
    CALL_PAUSE: '100ms',
    // Short, so a phone that hangs shows up as an interrupted iteration well within the test's time.
    CALL_TIMEOUT: '2s',
    MEDIA_RATE: '25',
    IVR_EVERY: '2',
    RTT_P99_MS: '1000',
    SETUP_P99_MS: '2000',
    ...extra,
  };
}

/** Everything that helps read a failed assertion on a run. */
function explain(run: K6Run): string {
  return [
    ...run.errors.map((e) => `error: ${e}`),
    ...run.logs.map((l) => `[VU ${l.vu} ${l.level}] ${l.text}`),
    run.summary?.stdout ?? '(no summary)',
  ].join('\n');
}

/** The CDRs of a run's calls, once all `count` of them are written. */
async function cdrsOf(n: TestNode, runId: string, count: number): Promise<Cdr[]> {
  const mine = (l: Cdr[]) => l.filter((c) => c.caller.startsWith(`k6-${runId}-`));
  await waitForCdrs(n, (l) => mine(l).length >= count);
  return mine(await fetchCdrs(n));
}

/** What every run of phones must show, whatever else it did. */
function expectCleanPhones(run: K6Run): void {
  const why = explain(run);
  expect(run.errors, why).toEqual([]);
  expect(
    run.thresholds.filter((t) => !t.ok),
    why,
  ).toEqual([]);
  expect(run.passed).toBe(true);
  expect(run.total('dropped_sessions'), why).toBe(0);
  expect(run.total('lost_media'), why).toBe(0);
  expect(run.total('protocol_errors'), why).toBe(0);
  // Media flowed and came back acknowledged: one round trip per frame sent.
  expect(run.total('media_sent')).toBeGreaterThan(50);
  expect(run.values('media_rtt')).toHaveLength(run.total('media_sent'));
  // Each completed call was set up once, and each connection registered once.
  const completed = run.total('calls_completed');
  expect(completed).toBeGreaterThanOrEqual(6);
  expect(run.values('call_setup')).toHaveLength(completed);
  expect(run.total('calls_completed', { to: 'ivr' })).toBeGreaterThan(0);
  expect(run.total('sessions_registered')).toBe(run.iterations.phones);
  for (const c of run.data.root_group.checks) expect(c, why).toMatchObject({ fails: 0 });
  expect(run.summary?.stdout).toContain('result: PASS');
}

/** Each call the script completed has one CDR, ended by its bye, with every frame counted. */
async function expectCdrs(n: TestNode, run: K6Run, runId: string): Promise<Cdr[]> {
  const completed = run.total('calls_completed');
  const cdrs = await cdrsOf(n, runId, completed);
  expect(cdrs).toHaveLength(completed);
  for (const c of cdrs) expect(c).toMatchObject({ cause: 'normal', endedBy: 'caller' });
  expect(new Set(cdrs.map((c) => c.callId)).size).toBe(completed);
  expect(cdrs.filter((c) => c.callee === 'ivr')).toHaveLength(run.total('calls_completed', { to: 'ivr' }));
  expect(cdrs.reduce((sum, c) => sum + c.mediaAtoB, 0)).toBe(run.total('media_sent'));
  return cdrs;
}

async function registeredRelease(n: TestNode, user: string): Promise<string | undefined> {
  const p = await Phone.connect(n.callsUrl, { token: n.tokens });
  try {
    await p.register(user);
    const m = p.log.find((x) => x.type === 'registered');
    return m?.type === 'registered' ? m.release : undefined;
  } finally {
    p.ws.terminate();
  }
}

describe('loadtest/k6/calls.ts', { timeout: RUN_TIMEOUT_MS }, () => {
  it('runs phones in echo and IVR calls: no drop, no lost frame, a CDR per call', async () => {
    const n = await node();
    const run = await runK6({ script: CALLS, env: env(n, 'ph') });
    expect(Object.keys(run.options.scenarios ?? {})).toEqual(['phones']);
    expectCleanPhones(run);
    expect(run.total('sessions_registered', { release: '1.0.0' })).toBe(run.iterations.phones);
    const cdrs = await expectCdrs(n, run, 'ph');
    for (const c of cdrs) expect(c.versions).toEqual(['1.0.0']);
    // handleSummary: the report, and the very data it was given as summary.json.
    expect(Object.keys(run.summary ?? {}).sort()).toEqual(['stdout', 'summary.json']);
    expect(JSON.parse(run.summary?.['summary.json'] ?? '{}')).toEqual(run.data);
  });

  it('hot-installs RELEASE at UPGRADE_AT under the phones: installed, calls carried across it', async () => {
    const n = await node();
    await upload(n, await buildArtifact(trusting.signer(), '1.1.0'));
    const run = await runK6({
      script: CALLS,
      env: env(n, 'up', {
        RELEASE: '1.1.0',
        UPGRADE_AT: '1s',
        INSTALL_WATCH: '300ms',
        INSTALL_POLL: '100ms',
        // Long enough for a second connection per phone after the install: each connection
        // first fetches its phone token.
        DURATION: '8s',
        CALL_LENGTH: '1500ms',
      }),
    });
    expect(Object.keys(run.options.scenarios ?? {})).toEqual(['phones', 'install']);
    expectCleanPhones(run);
    expect(run.iterations.install).toBe(1);
    expect(run.values('install_outcome', { outcome: 'installed', release: '1.1.0' })).toEqual([1]);
    expect(run.thresholds.find((t) => t.key === 'install_outcome')).toMatchObject({ ok: true, value: 1 });

    const { body } = await n.admin<{ install: InstallProgress }>('/admin/install');
    expect(body.install).toMatchObject({ to: '1.1.0', outcome: 'installed' });
    // Phones that connected after the install run the new code; calls up during it moved to it.
    expect(run.total('sessions_registered', { release: '1.1.0' })).toBeGreaterThan(0);
    const cdrs = await expectCdrs(n, run, 'up');
    expect(cdrs.some((c) => c.versions.includes('1.0.0') && c.versions.includes('1.1.0'))).toBe(true);
    expect(await registeredRelease(n, 'after-install')).toBe('1.1.0');
  });

  it('fails its thresholds when the node drops the phones (here: its rate limit)', async () => {
    // 10 frames a second allowed (bursts of 20), 50 sent: every phone is cut off with 1008.
    const n = await node({ messagesPerSecond: 10, burst: 20 });
    const run = await runK6({ script: CALLS, env: env(n, 'rl', { MEDIA_RATE: '50', DURATION: '1s' }) });
    const why = explain(run);
    expect(run.errors, why).toEqual([]);
    expect(run.passed).toBe(false);
    const failed = run.thresholds.filter((t) => !t.ok).map((t) => t.key);
    expect(failed).toEqual(expect.arrayContaining(['dropped_sessions', 'protocol_errors']));
    expect(run.total('dropped_sessions', { reason: 'socket_closed' })).toBe(run.iterations.phones);
    expect(run.total('protocol_errors', { code: 'HOT_ERR_RATE_LIMITED' })).toBeGreaterThan(0);
    expect(run.summary?.stdout).toMatch(/FAIL dropped_sessions count==0/);
    expect(run.summary?.stdout).toMatch(/^result: FAIL/m);
  });
});

describe('loadtest/k6/rollback.ts', { timeout: RUN_TIMEOUT_MS }, () => {
  it('holds a canary of RELEASE, rolls it back under the phones: rolled_back, nobody dropped', async () => {
    const n = await node();
    await upload(n, await buildArtifact(trusting.signer(), '1.1.0'));
    const run = await runK6({
      script: ROLLBACK,
      env: env(n, 'rb', { RELEASE: '1.1.0', UPGRADE_AT: '1s', CANARY_HOLD: '500ms', INSTALL_POLL: '100ms' }),
    });
    expectCleanPhones(run);
    expect(run.values('install_outcome', { outcome: 'rolled_back' })).toEqual([1]);
    const { body } = await n.admin<{ install: InstallProgress }>('/admin/install');
    expect(body.install).toMatchObject({ to: '1.1.0', mode: 'canary', outcome: 'rolled_back' });
    await expectCdrs(n, run, 'rb');
    expect(await registeredRelease(n, 'after-rollback')).toBe('1.0.0');
  });
});

describe('what k6 reads from calls.ts before and after a run', () => {
  it('declares the scenarios and thresholds k6 runs by, all on declared metrics', async () => {
    const plain = await initScript({ script: CALLS, env: {} });
    const upgrade = await initScript({
      script: CALLS,
      env: { RELEASE: '1.1.0', UPGRADE_AT: '20s', ADMIN_TOKEN: 't' },
    });
    try {
      expect(plain.options.scenarios).toEqual({
        phones: { executor: 'constant-vus', exec: 'phones', vus: 20, duration: '60s', gracefulStop: '72s' },
      });
      expect(plain.options.thresholds).toEqual({
        dropped_sessions: ['count==0'],
        lost_media: ['count==0'],
        protocol_errors: ['count==0'],
        media_rtt: ['p(99)<50'],
        call_setup: ['p(99)<500'],
      });
      expect(plain.options.summaryTrendStats).toContain('p(99)');
      expect(upgrade.options.scenarios?.install).toEqual({
        executor: 'per-vu-iterations',
        exec: 'install',
        vus: 1,
        iterations: 1,
        startTime: '20s',
        maxDuration: '150s',
      });
      expect(upgrade.options.thresholds?.install_outcome).toEqual(['rate==1']);
      for (const s of [plain, upgrade]) {
        // As k6 does at start: every threshold parses and names a metric of the right type.
        expect(parseThresholds(s.options.thresholds ?? {}, s.metrics).length).toBeGreaterThan(0);
        expect(s.exports).toEqual(expect.arrayContaining(['options', 'phones', 'install', 'handleSummary']));
      }
      expect(upgrade.metrics.get('media_rtt')).toEqual({
        name: 'media_rtt',
        type: 'trend',
        contains: 'time',
      });
      expect(upgrade.metrics.get('install_outcome')).toMatchObject({ type: 'rate' });
      // An install without the token fails in the init context, before any VU starts.
      await expect(initScript({ script: CALLS, env: { RELEASE: '1.1.0' } })).rejects.toThrow(
        /RELEASE is set but ADMIN_TOKEN is not/,
      );
    } finally {
      await plain.close();
      await upgrade.close();
    }
  });

  it('handleSummary reports a k6 summary: thresholds, metrics, checks, verdict, and the JSON', async () => {
    const data: SummaryData = {
      root_group: {
        name: '',
        path: '',
        id: 'd41d8cd98f00b204e9800998ecf8427e',
        groups: [],
        checks: [
          {
            name: 'every media frame acked',
            path: '::every media frame acked',
            id: 'a1',
            passes: 118,
            fails: 2,
          },
          {
            name: 'ivr answered the digit',
            path: '::ivr answered the digit',
            id: 'a2',
            passes: 120,
            fails: 0,
          },
        ],
      },
      options: {
        summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
        summaryTimeUnit: '',
        noColor: false,
      },
      state: { isStdOutTTY: true, isStdErrTTY: true, testRunDurationMs: 62_011.5 },
      metrics: {
        media_rtt: {
          type: 'trend',
          contains: 'time',
          values: {
            avg: 2.1,
            min: 0.9,
            med: 1.8,
            max: 71.2,
            'p(90)': 3,
            'p(95)': 4.4,
            'p(99)': 63.1,
            count: 14_400,
          },
          thresholds: { 'p(99)<50': { ok: false } },
        },
        call_setup: {
          type: 'trend',
          contains: 'time',
          values: { avg: 3.5, min: 1, med: 3, max: 40, 'p(90)': 6, 'p(95)': 8, 'p(99)': 21, count: 120 },
          thresholds: { 'p(99)<500': { ok: true } },
        },
        dropped_sessions: {
          type: 'counter',
          contains: 'default',
          values: { count: 0, rate: 0 },
          thresholds: { 'count==0': { ok: true } },
        },
        lost_media: {
          type: 'counter',
          contains: 'default',
          values: { count: 2, rate: 0.032 },
          thresholds: { 'count==0': { ok: false } },
        },
        checks: { type: 'rate', contains: 'default', values: { rate: 0.9917, passes: 238, fails: 2 } },
        data_received: { type: 'counter', contains: 'data', values: { count: 1_234_567, rate: 19_908.3 } },
        vus: { type: 'gauge', contains: 'default', values: { value: 20, min: 0, max: 20 } },
      },
    };
    const s = await initScript({ script: CALLS, env: { SUMMARY_JSON: 'out/calls-summary.json' } });
    try {
      const out = await s.handleSummary(data);
      expect(Object.keys(out ?? {}).sort()).toEqual(['out/calls-summary.json', 'stdout']);
      expect(JSON.parse(out?.['out/calls-summary.json'] ?? '')).toEqual(data);
      const text = out?.stdout ?? '';
      expect(text).toMatch(/^hotline k6 calls: 62\.0 s\n/);
      expect(text).toMatch(/FAIL media_rtt p\(99\)<50 +\(p\(99\) 63\.10ms\)/);
      expect(text).toMatch(/ok {3}dropped_sessions count==0 +\(count 0\)/);
      expect(text).toMatch(/FAIL lost_media count==0 +\(count 2\)/);
      expect(text).toMatch(
        /call_setup +avg=3\.50ms min=1\.00ms med=3\.00ms max=40\.00ms .*p\(99\)=21\.00ms count=120/,
      );
      expect(text).toMatch(/checks +rate=99\.17% passes=238 fails=2/);
      expect(text).toMatch(/vus +value=20 min=0 max=20/);
      expect(text).toContain('FAIL every media frame acked: 118 passed, 2 failed');
      expect(text).toContain('ok   ivr answered the digit: 120 passed, 0 failed');
      expect(text.trimEnd().split('\n').at(-1)).toBe(
        'result: FAIL (2 of 4 thresholds crossed: lost_media count==0, media_rtt p(99)<50)',
      );
    } finally {
      await s.close();
    }
  });
});
