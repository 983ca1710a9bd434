/**
 * A node serving TLS, run as `npm start` runs it: SIGHUP reloads its certificate with phones
 * in calls (a bad pair is refused with a logged, typed error), and a handoff tells its TLS
 * phones to reconnect (a TLS connection cannot change process): each gets
 * HOT_ERR_HANDOFF_TLS_RECONNECT and a 1012 close, its call ends with a CDR, the handoff counts
 * them, and the listening socket moves, so the phones reconnect to the successor on the same
 * address and certificate.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { readCdrLog } from '../support/cdrs.ts';
import { sample } from '../support/metrics.ts';
import { type NodeProcess, reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import { httpsGet, servedFingerprint, useTwoCertificates, writeCertificate } from '../support/tls.ts';
import { waitFor } from '../support/wait.ts';

const certs = useTwoCertificates();

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-tls-node-'));
  dirs.push(dir);
  return dir;
};
const groups: number[] = [];
afterEach(async () => {
  // The node and any successor it started share its process group.
  for (const pid of groups.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await reapNodeProcesses();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A node on the certificate files `cert.pem` and `key.pem` of `dir` (a new directory with the
 * first certificate, unless given); `entry` server/keeper.ts runs it under the keeper.
 */
async function tlsNodeProcess(o: { dir?: string; entry?: string } = {}) {
  const dir = o.dir ?? tempDir();
  const files =
    o.dir === undefined
      ? writeCertificate(dir, certs.first)
      : { tlsCert: join(dir, 'cert.pem'), tlsKey: join(dir, 'key.pem') };
  const dataDir = join(dir, 'data');
  const node = await spawnNodeProcess(
    dataDir,
    ['--tls-cert', files.tlsCert, '--tls-key', files.tlsKey],
    20_000,
    { ownGroup: true, ...(o.entry === undefined ? {} : { entry: o.entry }) },
  );
  groups.push(node.proc.pid as number);
  const phones: Phone[] = [];
  const phone = async (user: string) => {
    const p = await Phone.connect(node.callsUrl, { token: node.tokens, ca: certs.ca });
    phones.push(p);
    await p.register(user);
    return p;
  };
  return { node, dir, dataDir, phone, phones };
}

/** The JSON log lines of the node (and of its successor, which writes to the same output). */
const logLines = (node: NodeProcess) =>
  node
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

const cdrsOf = (dataDir: string, callId: string) =>
  readCdrLog(dataDir).filter((l): l is { t: 'cdr' } & Cdr => l.t === 'cdr' && l.callId === callId);

describe('a TLS node as a process', () => {
  it('reloads its certificate on SIGHUP under the keeper; calls carry on, new connections see the new certificate', async () => {
    // The node's files are symlinks into a directory it does not watch: only SIGHUP tells it.
    const dir = tempDir();
    mkdirSync(join(dir, 'store'));
    const stored = writeCertificate(join(dir, 'store'), certs.first);
    symlinkSync(stored.tlsCert, join(dir, 'cert.pem'));
    symlinkSync(stored.tlsKey, join(dir, 'key.pem'));
    // The keeper passes SIGHUP on to the node it runs.
    const { node, phone } = await tlsNodeProcess({ dir, entry: 'server/keeper.ts' });
    const alice = await phone('alice');
    await serviceCall(alice, 'e1');
    const flow = new MediaFlow(alice, 'e1', 20);
    await flow.more(5);

    writeCertificate(join(dir, 'store'), certs.second);
    node.proc.kill('SIGHUP');
    await waitFor(
      'the new certificate',
      async () => (await servedFingerprint(node.callsUrl, certs.ca)) === certs.second.fingerprint,
    );
    // The log line comes through a pipe: it may arrive after the certificate is served.
    await waitFor('the reload logged', () =>
      logLines(node).some((l) => l.why === 'SIGHUP' && l.fingerprint === certs.second.fingerprint),
    );

    await flow.more(5);
    await flow.drain();
    expect(flow.errors).toEqual([]);
    expect(alice.isOpen).toBe(true);

    // A bad pair at the next SIGHUP: logged with its code, and the certificate in use stays.
    writeFileSync(join(dir, 'store', 'key.pem'), 'not a key');
    node.proc.kill('SIGHUP');
    await waitFor('the refusal logged', () =>
      logLines(node).some((l) => l.code === 'HOT_ERR_TLS_CERTIFICATE_INVALID' && l.why === 'SIGHUP'),
    );
    expect(await servedFingerprint(node.callsUrl, certs.ca)).toBe(certs.second.fingerprint);
    expect(node.proc.exitCode).toBeNull();
  });

  it('takes SIGHUP without TLS as nothing to reload, and keeps serving', async () => {
    const node = await spawnNodeProcess(join(tempDir(), 'data'), [], 20_000, { ownGroup: true });
    groups.push(node.proc.pid as number);
    node.proc.kill('SIGHUP');
    await waitFor('the SIGHUP logged', () =>
      logLines(node).some((l) => l.msg === 'SIGHUP: this node serves no TLS; nothing to reload'),
    );
    const health = (await (await fetch(`${node.httpUrl}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    expect(node.proc.exitCode).toBeNull();
  });

  it('tells its TLS phones to reconnect at a handoff; their calls end with CDRs, and they come back to the successor', async () => {
    const { node, dataDir, phone } = await tlsNodeProcess();
    const alice = await phone('alice');
    const bob = await phone('bob');
    const carol = await phone('carol');
    await answeredCall(alice, bob, 'c1', 'bob');
    await serviceCall(carol, 'e1');
    const seen = new Map<Phone, ServerMessage[]>();
    for (const p of [alice, bob, carol]) {
      seen.set(p, []);
      p.onMessage((m) => seen.get(p)?.push(m));
    }

    node.proc.kill('SIGUSR2');
    const closes = await Promise.all([alice.closed, bob.closed, carol.closed]);
    for (const closed of closes) expect(closed).toEqual({ code: 1012, reason: 'service_restart' });
    for (const p of [alice, bob, carol]) {
      const frames = seen.get(p) ?? [];
      expect(frames[0]).toMatchObject({ type: 'error', code: 'HOT_ERR_HANDOFF_TLS_RECONNECT' });
    }
    expect(seen.get(carol)).toContainEqual(
      expect.objectContaining({ type: 'ended', callId: 'e1', cause: 'node_shutdown' }),
    );

    const summary = await waitFor(
      'the handoff summary',
      () => {
        const line = logLines(node).find((l) => l.msg === 'handed off');
        return line?.handoff as HandoffSummary | undefined;
      },
      30_000,
    );
    expect(summary.tlsReconnects).toBe(3);
    expect(summary.sockets).toBe(0);
    await node.exited;

    // Each call has one CDR: ended by the node, for the handoff.
    for (const callId of ['c1', 'e1']) {
      const cdrs = await waitFor(`the CDR of ${callId}`, () => {
        const list = cdrsOf(dataDir, callId);
        return list.length > 0 && list;
      });
      expect(cdrs).toHaveLength(1);
      expect(cdrs[0]).toMatchObject({ cause: 'node_shutdown', endedBy: 'system' });
    }

    // The successor serves the same address and certificate: the phones come back and call.
    expect(await servedFingerprint(node.callsUrl, certs.ca)).toBe(certs.first.fingerprint);
    const alice2 = await phone('alice');
    const bob2 = await phone('bob');
    await answeredCall(alice2, bob2, 'c2', 'bob');
    const metrics = (await httpsGet(`${node.httpUrl}/metrics`, certs.ca)).body;
    expect(sample(metrics, 'hotline_handoff_tls_reconnects_total')).toBe(3);
    expect(sample(metrics, 'hotline_handoffs_total', { outcome: 'done' })).toBe(1);
    const health = JSON.parse((await httpsGet(`${node.httpUrl}/healthz`, certs.ca)).body) as {
      status: string;
    };
    expect(health.status).toBe('ok');
  }, 30_000);
});
