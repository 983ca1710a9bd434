/**
 * Hot upgrades of a live node over its admin API, with real calls up over real WebSockets:
 * the release chain both ways, preflight aborts, the watch's rollback, canaries, mixed
 * releases in one call, the permanent release after a restart, and every refusal.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { PreflightReport } from '../../server/release/handler.ts';
import type { InstallOptions, InstallProgress } from '../../server/release/installer.ts';
import {
  adminPost,
  install,
  newSigner,
  sessionsByRelease,
  settled,
  signAsCallsRelease,
  upload,
  useTrustingNodes,
} from '../support/call-releases.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { metric } from '../support/metrics.ts';
import { type TestNode, tempDataDir } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const CHAIN = ['1.1.0', '2.0.0', '1.1.0', '1.0.0'];
const FAULTY_MIGRATE = '1.2.0-faulty-migrate';
const FAULTY_CRASH = '1.2.0-faulty-crash';
/** A test-only release (test/calls/fixtures): its DTMF handler answers HOT_ERR_INTERNAL. */
const FAULTY_ERROR = '1.2.0-faulty-error';

const trusting = useTrustingNodes();
const node = trusting.node;

beforeAll(async () => {
  for (const v of ['1.1.0', '2.0.0', FAULTY_MIGRATE, FAULTY_CRASH, FAULTY_ERROR]) await trusting.artifact(v);
}, 60_000);

const uploadAll = (n: TestNode, versions: string[]) => trusting.uploadTo(n, versions);

async function registered(n: TestNode, user: string): Promise<Phone> {
  return n.phone(user);
}

describe('the release chain 1.0.0 → 1.1.0 → 2.0.0 → 1.1.0 → 1.0.0 under live calls', () => {
  it('keeps every socket, every ack in order, the state, the timers and exact CDRs', async () => {
    const n = await node({ ringTimeoutMs: 2500 });
    await uploadAll(n, ['1.1.0', '2.0.0']);
    const [a, b, c, d, e, f, g] = (await Promise.all(
      ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'].map((u) => registered(n, u)),
    )) as [Phone, Phone, Phone, Phone, Phone, Phone, Phone];

    await answeredCall(a, b, 'ab', 'bob');
    const answeredAt = Date.now();
    const ab = new MediaFlow(a, 'ab', 10);
    const ba = new MediaFlow(b, 'ab', 10);
    await serviceCall(c, 'echo-c', 'echo');
    const echo = new MediaFlow(c, 'echo-c', 10);
    await serviceCall(d, 'ivr-d', 'ivr');
    await d.next((m) => m.type === 'prompt');
    await answeredCall(e, f, 'ef', 'frank');
    e.send({ type: 'hold', callId: 'ef' });
    await f.next('held');
    // Ringing when the first install starts; its ring timer must fire on whatever code runs then.
    g.send({ type: 'invite', callId: 'ring-g', to: 'noanswer' });
    await g.next('trying');
    await Promise.all([ab.more(), ba.more(), echo.more()]);

    const seen: string[] = [];
    for (const version of CHAIN) {
      const p = await install(n, version);
      expect(p.outcome, JSON.stringify(p)).toBe('installed');
      expect(p.failures).toEqual([]);
      seen.push(version);
      expect(await sessionsByRelease(n)).toEqual({ [version]: 7 });
      // Calls carry on through each install: media both ways, DTMF to the IVR.
      await Promise.all([ab.more(), ba.more(), echo.more()]);
      d.send({ type: 'dtmf', callId: 'ivr-d', digit: '1' });
      await d.next((m) => m.type === 'prompt');
    }

    // The ring timer set on 1.0.0 fired during the chain.
    expect(await g.next('ended', 10_000)).toMatchObject({ callId: 'ring-g', cause: 'ring_timeout' });
    // Hold survived: resume, and media flows again.
    e.send({ type: 'resume', callId: 'ef' });
    await f.next('resumed');

    for (const flow of [ab, ba, echo]) await flow.drain();
    a.send({ type: 'bye', callId: 'ab' });
    await b.next('ended');
    const byeAt = Date.now();
    const cdr = await cdrOf(n, 'ab');
    expect(cdr).toMatchObject({ cause: 'normal', mediaAtoB: ab.sent, mediaBtoA: ba.sent });
    expect(new Set(cdr.versions)).toEqual(new Set(['1.0.0', '1.1.0', '2.0.0']));
    // The duration is continuous across five code changes: it is the call's wall time.
    expect(Math.abs(cdr.durationMs - (byeAt - answeredAt))).toBeLessThan(1000);
    c.send({ type: 'bye', callId: 'echo-c' });
    expect(await cdrOf(n, 'echo-c')).toMatchObject({ mediaAtoB: echo.sent, mediaBtoA: echo.sent });
    for (const phone of [a, b, c, d, e, f, g]) expect(phone.isOpen).toBe(true);
  }, 60_000);
});

describe('faulty releases', () => {
  it('a codeChange that throws aborts in preflight, names the sessions, and changes nothing', async () => {
    const n = await node();
    await uploadAll(n, ['1.1.0', FAULTY_MIGRATE]);
    expect((await install(n, '1.1.0')).outcome).toBe('installed');
    const [a, b, c] = (await Promise.all(['xavier', 'bob', 'carol'].map((u) => registered(n, u)))) as [
      Phone,
      Phone,
      Phone,
    ];
    await answeredCall(a, b, 'ab', 'bob');
    a.send({ type: 'hold', callId: 'ab' });
    await b.next('held');
    await serviceCall(c, 'echo-c');
    const echo = new MediaFlow(c, 'echo-c', 10);
    await echo.more();

    // The preflight alone finds the same, and neither installs nor records anything.
    const dry = await adminPost<{ code: string; preflight: PreflightReport }>(
      n,
      `/admin/releases/${FAULTY_MIGRATE}/preflight`,
    );
    expect(dry.status).toBe(422);
    expect(dry.body).toMatchObject({
      code: 'HOT_ERR_PREFLIGHT_FAILED',
      preflight: { from: '1.1.0', failed: 2 },
    });
    expect(dry.body.preflight.failures).toHaveLength(2);
    expect(
      (await n.admin<{ current: string; install: InstallProgress }>('/admin/releases')).body,
    ).toMatchObject({
      current: '1.1.0',
      install: { to: '1.1.0', outcome: 'installed' },
    });
    expect(await metric(n, 'hotline_release_installs_total', { outcome: 'aborted' })).toBe(0);

    const p = await install(n, FAULTY_MIGRATE);
    expect(p.outcome).toBe('aborted');
    // Both legs of the held call, and only them.
    expect(p.failures).toHaveLength(2);
    expect(await metric(n, 'hotline_release_code_change_failures_total')).toBe(2);
    expect(await metric(n, 'hotline_release_installs_total', { outcome: 'aborted' })).toBe(1);
    for (const failure of p.failures)
      expect(failure).toMatchObject({ module: 'session', pid: expect.any(String) });
    expect(await sessionsByRelease(n)).toEqual({ '1.1.0': 3 });
    await echo.more();
    await echo.drain();
    a.send({ type: 'resume', callId: 'ab' });
    await b.next('resumed');
    for (const phone of [a, b, c]) expect(phone.isOpen).toBe(true);
  }, 30_000);

  /**
   * A node on 1.1.0 with `faulty` uploaded, a two-party call with media and an IVR call up,
   * and the install of `faulty` started with `options`, its sessions all moved.
   */
  async function callsUpgradingTo(faulty: string, options: Partial<InstallOptions>) {
    const n = await node();
    await uploadAll(n, ['1.1.0', faulty]);
    expect((await install(n, '1.1.0')).outcome).toBe('installed');
    const [a, b, d] = (await Promise.all(['alice', 'bob', 'dave'].map((u) => registered(n, u)))) as [
      Phone,
      Phone,
      Phone,
    ];
    await answeredCall(a, b, 'ab', 'bob');
    const ab = new MediaFlow(a, 'ab', 10);
    await serviceCall(d, 'ivr-d', 'ivr');
    await d.next((m) => m.type === 'prompt');

    const res = await adminPost<{ install: InstallProgress }>(
      n,
      `/admin/releases/${faulty}/install`,
      options,
    );
    expect(res.status).toBe(202);
    await waitFor('the watch window', async () => (await sessionsByRelease(n))[faulty] === 3);
    return { n, phones: [a, b, d], d, ab };
  }

  async function stillUp(phones: Phone[], ab: MediaFlow): Promise<void> {
    await ab.more();
    await ab.drain();
    expect(ab.ended).toBeNull();
    for (const phone of phones) expect(phone.isOpen).toBe(true);
  }

  it('handlers that crash after the upgrade are caught by the watch and rolled back, calls still up', async () => {
    const { n, phones, d, ab } = await callsUpgradingTo(FAULTY_CRASH, { watchMs: 10_000 });
    // The faulty handler throws; the guard puts the message back and the watch rolls back.
    d.send({ type: 'dtmf', callId: 'ivr-d', digit: '2' });
    const p = await settled(n);
    expect(p.outcome).toBe('rolled_back');
    expect(p.crashes).toBeGreaterThanOrEqual(1);
    expect(await metric(n, 'hotline_release_rollbacks_total')).toBe(1);
    expect(await metric(n, 'hotline_release_installs_total', { outcome: 'installed' })).toBe(1);
    expect(await metric(n, 'hotline_release_install_phase_seconds_count', { phase: 'commit' })).toBe(2);
    // The DTMF that crashed the new code is handled by the old one: the IVR answers it.
    await d.next((m) => m.type === 'prompt');
    expect(await sessionsByRelease(n)).toEqual({ '1.1.0': 3 });
    await stillUp(phones, ab);
  }, 30_000);

  it('errors reported by sessions on the new release over maxErrors roll back, nothing crashed, calls still up', async () => {
    const { n, phones, d, ab } = await callsUpgradingTo(FAULTY_ERROR, { watchMs: 20_000, maxErrors: 1 });
    const failingKey = async (digit: string) => {
      d.send({ type: 'dtmf', callId: 'ivr-d', digit });
      expect(await d.next('error')).toMatchObject({ code: 'HOT_ERR_INTERNAL', ref: 'dtmf', callId: 'ivr-d' });
    };
    // One error is tolerated: the release stays on probation.
    await failingKey('1');
    const { body } = await n.admin<{ install: InstallProgress }>('/admin/install');
    expect(body.install).toMatchObject({ phase: 'watch', errors: 1, crashes: 0, outcome: null });
    expect(await sessionsByRelease(n)).toEqual({ [FAULTY_ERROR]: 3 });

    await failingKey('2');
    const p = await settled(n);
    expect(p).toMatchObject({ outcome: 'rolled_back', errors: 2, crashes: 0 });
    expect(p.reason).toMatch(/^2 error\(s\) reported on 1\.2\.0-faulty-error .*over the 1 tolerated/);
    expect(await metric(n, 'hotline_session_errors_total', { release: FAULTY_ERROR })).toBe(2);
    expect(await metric(n, 'hotline_session_crashes_total', { release: FAULTY_ERROR })).toBe(0);
    expect(await metric(n, 'hotline_protocol_errors_total', { code: 'HOT_ERR_INTERNAL' })).toBe(2);
    expect(await metric(n, 'hotline_release_rollbacks_total')).toBe(1);
    // Every session is back on 1.1.0 with its call, and the IVR takes keys again.
    expect(await sessionsByRelease(n)).toEqual({ '1.1.0': 3 });
    d.send({ type: 'dtmf', callId: 'ivr-d', digit: '3' });
    await d.next((m) => m.type === 'prompt');
    await stillUp(phones, ab);
  }, 30_000);

  it('errors under the threshold: the release stays installed after its window, calls up', async () => {
    const { n, phones, d, ab } = await callsUpgradingTo(FAULTY_ERROR, { watchMs: 5000, maxErrors: 2 });
    for (const digit of ['1', '2']) {
      d.send({ type: 'dtmf', callId: 'ivr-d', digit });
      expect(await d.next('error')).toMatchObject({ code: 'HOT_ERR_INTERNAL', callId: 'ivr-d' });
    }
    const p = await settled(n);
    expect(p).toMatchObject({ outcome: 'installed', errors: 2, crashes: 0 });
    expect(await metric(n, 'hotline_session_errors_total', { release: FAULTY_ERROR })).toBe(2);
    expect(await metric(n, 'hotline_release_rollbacks_total')).toBe(0);
    expect(await sessionsByRelease(n)).toEqual({ [FAULTY_ERROR]: 3 });
    await stillUp(phones, ab);
  }, 30_000);
});

describe('canary', () => {
  async function canaryNode(): Promise<{ n: TestNode; phones: Phone[] }> {
    const n = await node();
    await uploadAll(n, ['1.1.0']);
    const phones = await Promise.all(Array.from({ length: 40 }, (_, i) => registered(n, `u${i}`)));
    return { n, phones };
  }

  it('moves a share first, then promote moves everyone', async () => {
    const { n, phones } = await canaryNode();
    const p = await install(n, '1.1.0', { mode: 'canary', canaryFraction: 0.5 });
    expect(p.phase).toBe('canary');
    const mixed = await sessionsByRelease(n);
    expect(mixed['1.1.0']).toBeGreaterThan(0);
    expect(mixed['1.0.0']).toBeGreaterThan(0);
    // New sessions begin on the new release.
    await registered(n, 'newcomer');
    expect((await adminPost(n, '/admin/install/promote')).status).toBe(200);
    expect((await settled(n)).outcome).toBe('installed');
    expect(await sessionsByRelease(n)).toEqual({ '1.1.0': 41 });
    for (const phone of phones) expect(phone.isOpen).toBe(true);
  });

  it('rollback moves the share back', async () => {
    const { n } = await canaryNode();
    expect((await install(n, '1.1.0', { mode: 'canary', canaryFraction: 0.5 })).phase).toBe('canary');
    const res = await adminPost<{ install: InstallProgress }>(n, '/admin/install/rollback');
    expect(res.status).toBe(200);
    expect(res.body.install.outcome).toBe('rolled_back');
    expect(await sessionsByRelease(n)).toEqual({ '1.0.0': 40 });
    const list = await n.admin<{ current: string }>('/admin/releases');
    expect(list.body.current).toBe('1.0.0');
  });
});

describe('mixed releases in one call', () => {
  it.each([
    ['1.0.0 calls 2.0.0', 'old', 'new'],
    ['2.0.0 calls 1.0.0', 'new', 'old'],
  ])('%s', async (_name, callerSide, calleeSide) => {
    const n = await node();
    await uploadAll(n, ['2.0.0']);
    const old = await registered(n, 'old');
    // A canary of nothing: the old session stays, new sessions begin on 2.0.0.
    expect((await install(n, '2.0.0', { mode: 'canary', canaryFraction: 0 })).phase).toBe('canary');
    const fresh = await registered(n, 'new');
    expect(await sessionsByRelease(n)).toEqual({ '1.0.0': 1, '2.0.0': 1 });
    const phones = { old, new: fresh };
    const caller = phones[callerSide as 'old' | 'new'];
    const callee = phones[calleeSide as 'old' | 'new'];
    await answeredCall(caller, callee, 'mixed', calleeSide);
    const there = new MediaFlow(caller, 'mixed', 10);
    const back = new MediaFlow(callee, 'mixed', 10);
    await Promise.all([there.more(), back.more()]);
    caller.send({ type: 'dtmf', callId: 'mixed', digit: '5' });
    expect(await callee.next('dtmf')).toMatchObject({ digit: '5' });
    await there.drain();
    await back.drain();
    callee.send({ type: 'bye', callId: 'mixed' });
    await caller.next('ended');
    const cdr = await cdrOf(n, 'mixed');
    expect(cdr).toMatchObject({ cause: 'normal', mediaAtoB: there.sent, mediaBtoA: back.sent });
    expect(new Set(cdr.versions)).toEqual(new Set(['1.0.0', '2.0.0']));
  });
});

describe('release handler', () => {
  it('a restarted node boots the permanent release, and history survives', async () => {
    const dataDir = tempDataDir();
    const first = await node({ dataDir });
    await uploadAll(first, ['1.1.0']);
    expect((await install(first, '1.1.0')).outcome).toBe('installed');
    expect((await adminPost(first, '/admin/releases/1.1.0/permanent')).status).toBe(200);
    await first.shutdown();
    trusting.forget(first);
    const second = await node({ dataDir });
    const phone = await second.phone();
    await phone.sendRegister('again');
    expect(await phone.next('registered')).toMatchObject({ release: '1.1.0' });
    const list = await second.admin<{ current: string; permanent: string; unpacked: { version: string }[] }>(
      '/admin/releases',
    );
    expect(list.body).toMatchObject({ current: '1.1.0', permanent: '1.1.0' });
    expect(list.body.unpacked.map((u) => u.version)).toEqual(['1.1.0']);
  });

  it('a stored release that no longer verifies is listed as unreadable; the observer stream goes on', async () => {
    const dataDir = tempDataDir();
    const first = await node({ dataDir });
    await uploadAll(first, ['1.1.0', '2.0.0']);
    await first.shutdown();
    trusting.forget(first);
    // Damaged on disk while the node was down.
    const file = join(dataDir, 'releases', '2.0.0.release.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 200));
    const second = await node({ dataDir });
    const list = await second.admin<{ unpacked: { version: string }[]; unreadable: { version: string }[] }>(
      '/admin/releases',
    );
    expect(list.status).toBe(200);
    expect(list.body.unpacked.map((u) => u.version)).toEqual(['1.1.0']);
    expect(list.body.unreadable.map((u) => u.version)).toEqual(['2.0.0']);
    // The observer's snapshots list releases every second: two of them, and the node still serves.
    const res = await fetch(`${second.adminUrl}/admin/observer/events`, {
      headers: { authorization: `Bearer ${second.adminToken}` },
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while ((text.match(/event: snapshot/g) ?? []).length < 2)
      text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect((await fetch(`${second.httpUrl}/healthz`)).status).toBe(200);
  });

  it('refuses tampered, untrusted, broken and unknown releases, and a second install', async () => {
    const n = await node();
    const good = await trusting.artifact('1.1.0');
    const refused = async (artifact: unknown, status: number, code: string) => {
      const res = await adminPost<{ code: string }>(n, '/admin/releases', artifact);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.code).toBe(code);
    };
    await refused(
      { ...good, code: `${good.code}\n;globalThis.tampered = true;` },
      422,
      'HOT_ERR_RELEASE_TAMPERED',
    );
    expect((globalThis as { tampered?: boolean }).tampered).toBeUndefined();
    const stranger = newSigner();
    await refused(
      signAsCallsRelease(stranger, '9.9.9', 'exports.release = {}'),
      422,
      'HOT_ERR_RELEASE_UNTRUSTED',
    );
    await refused({ ...good, signature: '' }, 422, 'HOT_ERR_RELEASE_UNTRUSTED');
    await refused(
      signAsCallsRelease(trusting.signer(), '9.9.8', 'throw new Error("boom at load")'),
      422,
      'HOT_ERR_RELEASE_LOAD_FAILED',
    );
    await refused(
      signAsCallsRelease(trusting.signer(), '9.9.7', 'exports.release = { version: "9.9.7" }'),
      422,
      'HOT_ERR_RELEASE_LOAD_FAILED',
    );
    await refused({ format: 'nope' }, 400, 'HOT_ERR_RELEASE_MALFORMED');
    await refused(
      { ...good, manifest: { ...good.manifest, version: '../../etc' } },
      400,
      'HOT_ERR_BAD_VERSION',
    );
    const list = await n.admin<{ unpacked: unknown[] }>('/admin/releases');
    expect(list.body.unpacked).toEqual([]);

    expect((await adminPost(n, '/admin/releases/7.7.7/install')).status).toBe(404);
    expect((await adminPost(n, '/admin/releases/..%2F..%2Fetc/install')).status).toBe(400);
    await upload(n, good);
    await registered(n, 'someone');
    const first = await adminPost(n, '/admin/releases/1.1.0/install', { watchMs: 5000 });
    expect(first.status).toBe(202);
    const second = await adminPost<{ code: string }>(n, '/admin/releases/1.1.0/install');
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('HOT_ERR_INSTALL_RUNNING');
    expect((await adminPost(n, '/admin/install/rollback')).status).toBe(200);
    expect((await adminPost(n, '/admin/releases/1.1.0/install', {}, 'wrong-token')).status).toBe(401);
  });
});
