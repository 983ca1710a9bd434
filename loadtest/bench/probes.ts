/**
 * `npm run bench -- probes`: the abuse probes of a node on its defaults, at full size, each
 * against a fresh node process on loopback.
 *
 * - idle: `--idle` TCP connections that never send a byte, spread over source addresses
 *   127.0.1.x (`--addresses` of them) so that the per-address cap is not the only thing
 *   tested. Reports how many the node closed at once (the caps), how many at the handshake
 *   timeout, how many are still open after it (must be 0), and the node's open files at the
 *   peak and after.
 * - flood: `--phones` phones invite one callee who is already in a call, as fast as each is
 *   answered, for `--seconds`; once with the call-attempt limit on (the default, 60 a minute)
 *   and once with it off (`--call-attempts 0`, the node as it was). Reports invites, refusals
 *   and busy CDRs per second for both.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { defaultSettings } from '../../server/node/settings.ts';
import { type NodeProcess, startNodeProcess } from '../client/node-process.ts';
import { Phone, type PhoneTokenSource } from '../client/phone.ts';
import { operatorTokens } from '../client/tokens.ts';
import { NodeAdmin } from '../harness/node-admin.ts';
import type { Figure } from './report.ts';

const TOKEN = 'bench-token';
/** 100 invites a second per phone at most: half the node's default frame rate limit. */
const INVITE_GAP_MS = 10;

export interface ProbesOptions {
  idle: number;
  addresses: number;
  phones: number;
  seconds: number;
}

/** A node on its defaults (plus `args`) in a data directory of its own, for the length of `probe`. */
async function withNode<T>(
  args: string[],
  probe: (node: NodeProcess, tokens: PhoneTokenSource) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-probes-'));
  const node = await startNodeProcess(args, { HOTLINE_ADMIN_TOKEN: TOKEN, HOTLINE_DATA_DIR: dir });
  try {
    // The phones get their tokens as a client would, from the node's phone key.
    return await probe(node, operatorTokens(dir));
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const openFiles = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** A connection that sends nothing; `closed` resolves when the node closes it, with the ms it stayed open. */
function silentConnection(url: string, localAddress: string): Promise<{ closed: Promise<number> }> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      const opened = Date.now();
      socket.on('error', () => {
        // A reset is a close as well.
      });
      resolve({ closed: new Promise((closed) => socket.once('close', () => closed(Date.now() - opened))) });
    });
  });
}

function idleProbe(o: ProbesOptions): Promise<Figure[]> {
  return withNode([], async (node) => {
    const pid = node.child.pid as number;
    const filesBefore = openFiles(pid);
    const closes: Promise<number>[] = [];
    for (let i = 0; i < o.idle; i++) {
      const address = `127.0.1.${1 + (i % o.addresses)}`;
      closes.push((await silentConnection(node.httpUrl, address)).closed);
    }
    const filesAtPeak = openFiles(pid);
    const timeout = defaultSettings.handshakeTimeoutMs;
    let still = o.idle;
    const times: number[] = [];
    for (const c of closes)
      void c.then((ms) => {
        still--;
        times.push(ms);
      });
    await sleep(timeout + 5000);
    const closedAtOnce = times.filter((ms) => ms < 1000).length;
    const closedAtTimeout = times.filter((ms) => ms >= timeout - 1000).length;
    return [
      { key: 'idle_connections', value: o.idle, label: `idle TCP connections from ${o.addresses} addresses` },
      { key: 'idle_closed_at_once', value: closedAtOnce, label: 'closed at once (connection caps)' },
      {
        key: 'idle_closed_at_timeout',
        value: closedAtTimeout,
        label: `closed at the handshake timeout (${timeout} ms)`,
      },
      {
        key: 'idle_open_after_timeout',
        value: still,
        target: { max: 0 },
        label: 'still open 5 s after the handshake timeout',
      },
      {
        key: 'idle_node_files_added_at_peak',
        value: filesAtPeak - filesBefore,
        label: "node's open files added at the peak",
      },
      {
        key: 'idle_node_files_added_after',
        value: openFiles(pid) - filesBefore,
        target: { max: 0 },
        label: "node's open files added, after the timeout",
      },
    ];
  });
}

interface FloodRun {
  invites: number;
  refused: number;
  busyCdrs: number;
  seconds: number;
}

function floodRun(o: ProbesOptions, callAttempts: number): Promise<FloodRun> {
  return withNode(['--call-attempts', String(callAttempts)], (node, tokens) => flood(o, node, tokens));
}

async function flood(o: ProbesOptions, node: NodeProcess, tokens: PhoneTokenSource): Promise<FloodRun> {
  const phones: Phone[] = [];
  const phone = async (user: string, address: string) => {
    const p = await Phone.connect(node.callsUrl, { keepLog: false, localAddress: address, token: tokens });
    phones.push(p);
    await p.register(user);
    return p;
  };
  let media: NodeJS.Timeout | undefined;
  try {
    // The callee is in a call with a friend for the whole probe: every invite finds it busy.
    const [callee, friend] = await Promise.all([phone('callee', '127.0.2.1'), phone('friend', '127.0.2.2')]);
    friend.send({ type: 'invite', callId: 'up', to: 'callee' });
    await callee.next('incoming', 10_000);
    callee.send({ type: 'answer', callId: 'up' });
    await friend.next('answered', 10_000);
    // Media keeps that call up past the media timeout, however long the probe runs.
    let seq = 0;
    media = setInterval(
      () => friend.send({ type: 'media', callId: 'up', seq: seq++, sentAt: Date.now(), payload: '' }),
      1000,
    );
    const callers = await Promise.all(
      Array.from({ length: o.phones }, (_, i) => phone(`caller${i}`, `127.0.3.${1 + (i % 250)}`)),
    );
    const started = Date.now();
    const until = started + o.seconds * 1000;
    let invites = 0;
    let refused = 0;
    const settled = (m: ServerMessage) => m.type === 'ended' || m.type === 'error';
    await Promise.all(
      callers.map(async (p, i) => {
        for (let n = 0; Date.now() < until; n++) {
          const sent = Date.now();
          p.send({ type: 'invite', callId: `c${i}-${n}`, to: 'callee' });
          invites++;
          const m = await p.next(settled, 10_000);
          if (m.type === 'error' && m.code === 'HOT_ERR_CALL_ATTEMPTS') refused++;
          // At most one invite per INVITE_GAP_MS a phone: under the per-connection frame rate
          // limit, which would otherwise close the phone (1008) before the call-attempt limit speaks.
          await sleep(Math.max(0, INVITE_GAP_MS - (Date.now() - sent)));
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const cdrs = await new NodeAdmin({ adminUrl: node.adminUrl, token: TOKEN }).cdrsSince(started);
    return { invites, refused, busyCdrs: cdrs.filter((c) => c.cause === 'busy').length, seconds };
  } finally {
    clearInterval(media);
    await Promise.all(phones.map((p) => p.close().catch(() => undefined)));
  }
}

async function floodProbe(o: ProbesOptions): Promise<Figure[]> {
  const limited = await floodRun(o, defaultSettings.callAttempts);
  const open = await floodRun(o, 0);
  const perSecond = (n: number, r: FloodRun) => Math.round(n / r.seconds);
  return [
    { key: 'flood_phones', value: o.phones, label: 'phones inviting a busy callee' },
    {
      key: 'flood_invites_per_second',
      value: perSecond(limited.invites, limited),
      label: 'invites per second (limit on)',
    },
    {
      key: 'flood_refused_per_second',
      value: perSecond(limited.refused, limited),
      label: 'refused for the call-attempt limit, per second',
    },
    {
      key: 'flood_busy_cdrs',
      value: limited.busyCdrs,
      // The limit counts per user and window: each phone may have `callAttempts` invites a minute.
      target: { max: o.phones * defaultSettings.callAttempts * Math.ceil(o.seconds / 60) },
      label: `busy CDRs written (limit on: ${defaultSettings.callAttempts} invites a minute per phone)`,
    },
    {
      key: 'flood_busy_cdrs_per_second',
      value: perSecond(limited.busyCdrs, limited),
      label: 'busy CDRs per second (limit on)',
    },
    {
      key: 'flood_busy_cdrs_per_second_without_limit',
      value: perSecond(open.busyCdrs, open),
      label: 'busy CDRs per second with --call-attempts 0',
    },
  ];
}

export async function probesBench(o: ProbesOptions): Promise<Figure[]> {
  return [...(await idleProbe(o)), ...(await floodProbe(o))];
}
