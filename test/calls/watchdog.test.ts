/**
 * A release whose DTMF handler loops for ever, installed on a real node (a child process):
 * the watchdog writes down who was stuck and ends the node; the node started again on the
 * same data directory (this test is its supervisor) boots the release before it, marks the
 * guilty one, writes node_lost CDRs for the calls that were up, and refuses to install the
 * marked release again unless forced.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { readWatchdogLog, WATCHDOG_SIGNAL, watchdogLogPath } from '../../server/node/watchdog-log.ts';
import type { ReleaseList } from '../../server/release/handler.ts';
import { adminPost, buildArtifact, install, newSigner, settled, upload } from '../support/call-releases.ts';
import { answeredCall, assertServes, serviceCall } from '../support/calls.ts';
import { fetchCdrs } from '../support/cdrs.ts';
import { type NodeProcess, reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import { tokensFor } from '../support/phone-tokens.ts';
import { tempDataDir } from '../support/test-node.ts';

const LOOPING = '1.4.0-dtmf-loop';
const WATCHDOG_MS = 1500;

afterEach(reapNodeProcesses);

async function admin<T>(node: NodeProcess, path: string): Promise<T> {
  const res = await fetch(`${node.adminUrl}${path}`, {
    headers: { authorization: `Bearer ${node.adminToken}` },
  });
  return (await res.json()) as T;
}

describe('a handler that never returns', () => {
  it('is found by the watchdog, and the node recovers on the release before it with the guilty one marked', async () => {
    const signer = newSigner();
    const artifact = await buildArtifact(signer, LOOPING);
    const data = tempDataDir();
    const args = ['--trusted-key', signer.publicKeyPath, '--watchdog-ms', String(WATCHDOG_MS)];
    const first = await spawnNodeProcess(data, args, undefined, { ownGroup: true });
    const { current: before } = await admin<ReleaseList>(first, '/admin/releases');

    const phones: Phone[] = [];
    const phone = async (user: string) => {
      const p = await Phone.connect(first.callsUrl, { token: tokensFor(data) });
      phones.push(p);
      await p.register(user);
      return p;
    };
    const [alice, bob, carol] = [await phone('alice'), await phone('bob'), await phone('carol')];
    await answeredCall(alice, bob, 'call-ab', 'bob');
    await serviceCall(carol, 'call-echo', 'echo');

    await upload(first, artifact);
    expect(await install(first, LOOPING)).toMatchObject({ outcome: 'installed' });
    const sessions = await admin<{ processes: { pid: string }[] }>(first, '/admin/processes?module=session');
    alice.send({ type: 'dtmf', callId: 'call-ab', digit: '5' });
    const hungAt = Date.now();

    const exit = await first.exited;
    const endedAt = Date.now();
    expect(exit.signal, first.output()).toBe(WATCHDOG_SIGNAL);
    expect(endedAt - hungAt).toBeLessThan(WATCHDOG_MS + 10_000);
    const [fired] = readWatchdogLog(watchdogLogPath(data));
    expect(fired).toMatchObject({
      type: 'fired',
      node: 'hotline',
      inCallback: true,
      behaviour: 'session',
      version: LOOPING,
      kind: 'cast',
      message: 'dtmf',
      probation: LOOPING,
      watchdogMs: WATCHDOG_MS,
    });
    expect(sessions.processes.map((p) => p.pid)).toContain(fired?.type === 'fired' ? fired.pid : undefined);
    for (const p of phones) p.ws.terminate();

    // The supervisor's part: start it again, with the same flags, on the same data directory.
    const second = await spawnNodeProcess(data, args, undefined, { ownGroup: true });
    await assertServes({ callsUrl: second.callsUrl, tokens: tokensFor(data) });
    const servingAt = Date.now();
    const releases = await admin<ReleaseList>(second, '/admin/releases');
    expect(releases.current).toBe(before);
    expect(Object.keys(releases.marked)).toEqual([LOOPING]);
    expect(releases.marked[LOOPING]?.reason).toContain('dtmf');
    expect(second.recovered).toBe(2);
    const lost = (await fetchCdrs(second)).filter((c) => c.callId === 'call-ab' || c.callId === 'call-echo');
    expect(lost.map((c) => [c.callId, c.cause]).sort()).toEqual([
      ['call-ab', 'node_lost'],
      ['call-echo', 'node_lost'],
    ]);
    expect(readWatchdogLog(watchdogLogPath(data)).at(-1)).toMatchObject({
      type: 'recovered',
      fired: fired?.at,
      booted: before,
      marked: LOOPING,
    });
    expect(second.output()).toContain(`release ${LOOPING} is marked`);

    const refused = await adminPost<{ code: string }>(second, `/admin/releases/${LOOPING}/install`, {
      watchMs: 100,
    });
    expect(refused).toMatchObject({ status: 409, body: { code: 'HOT_ERR_RELEASE_MARKED' } });
    const forced = await adminPost(second, `/admin/releases/${LOOPING}/install`, {
      watchMs: 100,
      force: true,
    });
    expect(forced.status).toBe(202);
    expect(await settled(second)).toMatchObject({ outcome: 'installed', to: LOOPING });
    // Figures for the report: detection and recovery, on this machine.
    console.log(
      `watchdog ${WATCHDOG_MS} ms: fired after ${fired?.type === 'fired' ? fired.stalledMs : '?'} ms stalled; ` +
        `node ended ${endedAt - hungAt} ms after the hang; serving again ${servingAt - hungAt} ms after it`,
    );
    // Two node processes started, a release built and installed twice: room on a busy machine.
  }, 120_000);
});
