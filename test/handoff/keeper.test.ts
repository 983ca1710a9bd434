/**
 * The keeper (server/node/keeper.ts) over a fake node (fixtures/fake-node.ts): it passes
 * signals to the node that serves now, relays a handoff (messages and handles both ways) to a
 * successor it spawns itself, exits with the serving node's exit code, survives bad messages,
 * and the pid file follows the serving node. Each keeper runs in its own process group, which
 * is killed afterwards; `npm start`'s own entry (server/keeper.ts) is run over a real node last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('fixtures/keeper.ts', import.meta.url));

interface Line {
  fake?: string;
  name?: string;
  pid: number;
  event?: string;
  msg?: string;
  [key: string]: unknown;
}

interface Kept {
  proc: ChildProcess;
  lines: Line[];
  exited: Promise<number | null>;
  /** The first line matching, once it has been printed. */
  line(what: string, match: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
  /** Signal the keeper and wait until the fake node in `role` says it got the signal. */
  passOn(signal: NodeJS.Signals, role: string): Promise<Line>;
  /** SIGTERM to the keeper; its exit code. */
  stop(): Promise<number | null>;
}

const groups: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const proc of groups.splice(0)) {
    try {
      process.kill(-(proc.pid as number), 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-keeper-'));
  dirs.push(dir);
  return dir;
}

function startKeeper(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Kept {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.push(proc);
  const lines: Line[] = [];
  let pending = '';
  let raw = '';
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
  });
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const text of parts) {
      try {
        lines.push(JSON.parse(text) as Line);
      } catch {
        // not a JSON line
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const line = (what: string, match: (l: Line) => boolean, timeoutMs = 20_000) =>
    waitFor(what, () => lines.find(match), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n${raw}`);
    });
  return {
    proc,
    lines,
    exited,
    line,
    passOn(signal, role) {
      const before = lines.length;
      process.kill(proc.pid as number, signal);
      return line(
        `${signal} at ${role}`,
        (l) => lines.indexOf(l) >= before && fake(role, 'signal')(l) && l.signal === signal,
      );
    },
    stop() {
      process.kill(proc.pid as number, 'SIGTERM');
      return exited;
    },
  };
}

/** A process's parent pid, from /proc (the field after the command name). */
const parentOf = (pid: number): number =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);

const fake =
  (role: string, event: string, extra: (l: Line) => boolean = () => true) =>
  (l: Line) =>
    l.fake === role && l.event === event && extra(l);

/** A line-protocol client: what it has read so far, and a way to send a line. */
function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let text = '';
  let closed = false;
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  return {
    socket,
    read: () => text,
    closed: () => closed,
    until: (expected: string) =>
      waitFor(`"${expected}" on the connection`, () => text.includes(expected), 10_000),
  };
}

/** A fake node with a phone connected, told to hand off (SIGUSR2 to the keeper) by `plan`. */
async function handOffWith(plan: string, code: string) {
  const kept = startKeeper(fixture, ['A', code, '-', plan]);
  const a = await kept.line('the node up', fake('A', 'up'));
  const phone = connect(a.port as number);
  await phone.until('A\n');
  await kept.passOn('SIGUSR2', 'A');
  return { kept, a, phone };
}

describe('the keeper over a fake node', () => {
  it('passes SIGTERM, SIGINT, SIGHUP and SIGUSR2 on to the node and exits with its exit code', async () => {
    const kept = startKeeper(fixture, ['A', '7', '-', 'plain']);
    const up = await kept.line('the node up', fake('A', 'up'));
    expect(up.pid).not.toBe(kept.proc.pid);
    for (const signal of ['SIGINT', 'SIGHUP', 'SIGUSR2'] as const) await kept.passOn(signal, 'A');
    expect(kept.proc.exitCode).toBeNull();
    expect(await kept.stop()).toBe(7);
    expect(kept.lines.filter(fake('A', 'signal')).map((l) => l.signal)).toStrictEqual([
      'SIGINT',
      'SIGHUP',
      'SIGUSR2',
      'SIGTERM',
    ]);
  });

  it('exits with 128 + the signal when the node is killed', async () => {
    const kept = startKeeper(fixture, ['A', '0', '-', 'plain']);
    const up = await kept.line('the node up', fake('A', 'up'));
    process.kill(up.pid, 'SIGKILL');
    expect(await kept.exited).toBe(137);
  });

  it('logs and drops bad messages from a node, and carries on', async () => {
    const kept = startKeeper(fixture, ['A', '3', '-', 'bad']);
    await kept.line('the node up', fake('A', 'up'));
    const warnings = await waitFor('the warnings', () => {
      const w = kept.lines.filter((l) => l.name === 'keeper' && l.level === 40);
      return w.length >= 5 && w;
    });
    expect(warnings.map((w) => w.msg)).toEqual(
      expect.arrayContaining([
        'a message outside any handoff was dropped',
        'a bad message was dropped: unknown keeper request "no-such-request"',
        'a bad message was dropped: spawn without a valid spec',
        'a relay outside any handoff was dropped',
        'a bad message was dropped: relay with a bad server number',
      ]),
    );
    await kept.passOn('SIGUSR2', 'A');
    expect(await kept.stop()).toBe(3);
  });

  it('relays a handoff: the successor gets the messages, a live connection and the listener; signals and the pid file follow it', async () => {
    const pidFile = join(tempDir(), 'hotline.pid');
    const kept = startKeeper(fixture, ['A', '5', pidFile, 'handoff']);
    const a = await kept.line('the node up', fake('A', 'up'));
    expect(readFileSync(pidFile, 'utf8')).toBe(`${a.pid}\n`);
    const phone = connect(a.port as number);
    await phone.until('A\n');

    await kept.passOn('SIGUSR2', 'A');
    const started = await kept.line('the successor', fake('A', 'successor'));
    // The successor is the keeper's child, not the old node's.
    expect(parentOf(started.successor as number)).toBe(kept.proc.pid);
    await kept.line(
      'the successor says hello',
      fake('A', 'from-successor', (l) => l.message === 'hello'),
    );
    const image = await kept.line('the batch', fake('B', 'image'));
    expect(image).toMatchObject({ isMap: true, state: 'kept', pid: started.successor });
    expect(kept.lines.find(fake('B', 'from-old', (l) => l.message === 'socket'))?.handle).toBe('Socket');

    // The connection accepted by A now talks to B, without a reconnect.
    await phone.until('B\n');
    phone.socket.write('ping\n');
    await phone.until('B:ping\n');
    expect(phone.closed()).toBe(false);

    await kept.line(
      'the old node gone',
      (l) => l.name === 'keeper' && l.msg === 'a node exited' && l.node === a.pid,
    );
    expect(kept.lines.find(fake('B', 'from-old', (l) => l.message === 'listener'))?.handle).toBe('Server');
    expect(readFileSync(pidFile, 'utf8')).toBe(`${started.successor}\n`);
    expect(kept.lines.some(fake('B', 'old-gone'))).toBe(false);

    // The listener moved: a new connection is served by B.
    const late = connect(a.port as number);
    await late.until('B\n');
    phone.socket.write('still\n');
    await phone.until('B:still\n');

    await kept.passOn('SIGHUP', 'B');
    expect(await kept.stop()).toBe(5);
    expect(
      kept.lines.filter((l) => l.fake === 'A' && l.event === 'signal').map((l) => l.signal),
    ).toStrictEqual(['SIGUSR2']);
    // B took its pid file with it; A's exit left it alone.
    expect(existsSync(pidFile)).toBe(false);
    phone.socket.destroy();
    late.socket.destroy();
  });
});

it("holds a copy of each phone's socket: closed when the node drops it or no longer has it, given to a successor as a descriptor", async () => {
  const kept = startKeeper(fixture, ['A', '0', '-', 'copies']);
  const a = await kept.line('the node up', fake('A', 'up'));
  const [gone, moving, forgotten] = [
    connect(a.port as number),
    connect(a.port as number),
    connect(a.port as number),
  ];
  for (const phone of [gone, moving, forgotten]) await phone.until('A\n');

  // A closes its copy and says drop: the keeper's copy closes, so the phone sees the end.
  gone.socket.write('hangup\n');
  await waitFor('the dropped connection closed', () => gone.closed(), 10_000);
  // A closes its copy silently, then names the ones it has: the keeper closes the rest.
  await kept.passOn('SIGHUP', 'A');
  await waitFor('the forgotten connection closed', () => forgotten.closed(), 10_000);
  expect(moving.closed()).toBe(false);

  await kept.passOn('SIGUSR2', 'A');
  const started = await kept.line('the successor', fake('A', 'successor'));
  expect(started.inherited).toEqual([2]);
  const inherited = await kept.line('the successor opened them', fake('B', 'inherited'));
  expect(inherited.sockets).toEqual([2]);
  // The connection A accepted talks to B now, without a reconnect, on the descriptor B was spawned with.
  await moving.until('B\n');
  moving.socket.write('ping\n');
  await moving.until('B:ping\n');
  expect(moving.closed()).toBe(false);
  expect(kept.lines.some(fake('B', 'from-old', (l) => l.message === 'socket'))).toBe(false);
  moving.socket.destroy();
});

it("a connection the keeper's copy of a listener accepts in transit goes back to the old node", async () => {
  const { kept, a, phone } = await handOffWith('stall', '0');
  const started = await kept.line('the successor', fake('A', 'successor'));
  await kept.line(
    'the hello',
    fake('A', 'from-successor', (l) => l.message === 'hello'),
  );
  // A stopped successor acknowledges no handle: the listener waits in the keeper, which
  // listens on it meanwhile, while A has closed its own copy.
  process.kill(started.successor as number, 'SIGSTOP');
  await kept.passOn('SIGHUP', 'A');
  await kept.line('A sent both and closed its listener', fake('A', 'stalled'));
  const late = connect(a.port as number);
  await late.until('A\n');
  late.socket.write('served\n');
  await late.until('A:served\n');
  process.kill(started.successor as number, 'SIGCONT');
  await phone.until('B\n');
  phone.socket.destroy();
  late.socket.destroy();
});

describe('the keeper tells each side of a handoff when the other is gone', () => {
  it('the successor dies mid-handoff: the old node is told and goes on serving', async () => {
    const { kept, phone } = await handOffWith('b-dies', '6');
    const gone = await kept.line('the successor gone', fake('A', 'successor-gone'));
    expect(gone.why).toBe('successor exited (code 9)');
    await kept.passOn('SIGHUP', 'A');
    expect(await kept.stop()).toBe(6);
    phone.socket.destroy();
  });

  it('the old node dies before the successor took over: the successor loses its channel; the keeper exits with the old code', async () => {
    const kept = startKeeper(fixture, ['A', '0', '-', 'a-dies']);
    await kept.line('the node up', fake('A', 'up'));
    await kept.passOn('SIGUSR2', 'A');
    const gone = await kept.line('the old node gone, at the successor', fake('B', 'old-gone'));
    expect(gone.why).toBe('the old node closed its channel');
    expect(await kept.exited).toBe(4);
  });
});

describe('npm start (server/keeper.ts over server/main.ts)', () => {
  async function startReal() {
    const dir = tempDir();
    const pidFile = join(dir, 'hotline.pid');
    const kept = startKeeper(
      'server/keeper.ts',
      ['--port', '0', '--admin-port', '0', '--data-dir', dir, '--pid-file', pidFile],
      { HOTLINE_ADMIN_TOKEN: 'test-token', HOTLINE_LOG_LEVEL: 'info' },
    );
    const up = await kept.line('the node up', (l) => typeof l.calls === 'string', 30_000);
    return { kept, up, pidFile };
  }

  it('runs the node as its child with the same flags, writes its pid file, and stops it on SIGTERM', async () => {
    const { kept, up, pidFile } = await startReal();
    expect(up.pid).not.toBe(kept.proc.pid);
    expect(readFileSync(pidFile, 'utf8')).toBe(`${up.pid}\n`);
    const health = await fetch(`${up.http as string}/healthz`);
    expect(health.status).toBe(200);
    expect(await kept.stop()).toBe(0);
    expect(kept.lines.some((l) => l.pid === up.pid && l.msg === 'SIGTERM: shutting down')).toBe(true);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('the node stops as on SIGTERM when the keeper is killed: no node runs on unwatched', async () => {
    const { kept, up, pidFile } = await startReal();
    kept.proc.kill('SIGKILL');
    await kept.line('the node stopping', (l) => l.pid === up.pid && l.msg === 'SIGTERM: shutting down');
    await waitFor('the node gone', () => !existsSync(`/proc/${up.pid}`), 20_000);
    expect(existsSync(pidFile)).toBe(false);
  }, 30_000);
});
