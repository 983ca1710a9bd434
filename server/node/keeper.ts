/**
 * The keeper: a small parent that holds the node's place while the node itself is replaced.
 * Its pid never changes (systemd's main pid, a container's first process, the terminal's
 * foreground job); the node that serves is its child. It passes SIGTERM, SIGINT, SIGHUP and
 * SIGUSR2 on to the node that serves now, spawns a successor when that node asks for one
 * (so both sides of a handoff are its children), holds a copy of every phone's socket for
 * the next successor (inherit.ts), relays their IPC traffic and handles both
 * ways, tells each side when the other is gone, and exits with the serving node's exit code
 * once the last node has exited. It runs no node code: a bad message is logged, never fatal.
 */
import { type ChildProcess, type Serializable, spawn } from 'node:child_process';
import net from 'node:net';
import { constants } from 'node:os';
import type { SuccessorSpec } from '../handoff/channel.ts';
import { inheritance, isRawHandle, type RawHandle } from '../handoff/inherit.ts';
import { isKeeperEnvelope, type KeeperNotice, parseKeeperRequest } from '../handoff/keeper-protocol.ts';

export interface KeeperOptions {
  /** The first node's command line: `nodeBinary ...execArgv entry ...args`. */
  readonly nodeBinary: string;
  readonly execArgv: readonly string[];
  readonly entry: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const;

type Level = 'info' | 'warn' | 'error';
const levels: Record<Level, number> = { info: 30, warn: 40, error: 50 };

/** One JSON line on stdout, as the node's own log lines are (pino's shape). */
function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(
    `${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, name: 'keeper', ...fields, msg })}\n`,
  );
}

const exitCode = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));

/**
 * A socket arriving over IPC starts reading at once (net.Socket reads from a handle it is
 * built on). The keeper only carries it on: stop the reads before the event loop can deliver
 * any, so no byte from the phone lands here, where nothing would parse it.
 */
function stopReading(socket: net.Socket): void {
  (socket as unknown as { _handle?: { readStop?: () => void } })._handle?.readStop?.();
}

/** The two sides of a handoff in progress: the old node and the successor it asked for. */
interface Pair {
  readonly old: ChildProcess;
  readonly next: ChildProcess;
}

export class Keeper {
  readonly #options: KeeperOptions;
  readonly #alive = new Set<ChildProcess>();
  #serving: ChildProcess | undefined;
  #servingCode = 0;
  #pair: Pair | undefined;
  /** A handoff over, whose old node has not exited yet: the successor's last words still reach it. */
  #draining: Pair | undefined;
  /**
   * A copy of every phone's socket, by socket id, never read: a successor gets them all as
   * descriptors when it is spawned, instead of one per IPC round trip from the old node.
   */
  readonly #copies = new Map<number, RawHandle>();
  readonly #done: Promise<number>;
  #finish: (code: number) => void = () => {};

  constructor(options: KeeperOptions) {
    this.#options = options;
    this.#done = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  /** Start the first node and pass signals on; resolves with the exit code once no node is left. */
  run(): Promise<number> {
    const o = this.#options;
    this.#serving = this.#spawn(o.nodeBinary, [...o.execArgv, o.entry, ...o.args]);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, () => this.#forward(signal));
    return this.#done;
  }

  /** The pid of the node that serves now. */
  get servingPid(): number | undefined {
    return this.#serving?.pid;
  }

  #forward(signal: NodeJS.Signals): void {
    const serving = this.#serving;
    if (serving === undefined || !this.#alive.has(serving)) return;
    log('info', `${signal}: passed on to the serving node`, { node: serving.pid });
    serving.kill(signal);
  }

  #spawn(binary: string, argv: string[], inherit: readonly number[] = []): ChildProcess {
    const child = spawn(binary, argv, {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...inherit],
      // JSON: Node's fastest for the handoff's many small messages (protocol.ts packs the rest).
      serialization: 'json',
      env: { ...(this.#options.env ?? process.env), HOTLINE_KEEPER: '1' },
    });
    this.#alive.add(child);
    child.on('message', (message: unknown, handle: unknown) => {
      try {
        this.#onMessage(child, message, handle);
      } catch (err) {
        log('error', 'a message from a node could not be handled', { node: child.pid, err: String(err) });
        discard(handle);
      }
    });
    child.on('error', (err) => {
      log('error', 'a node could not run', { err: err.message });
      this.#gone(child, 1, null);
    });
    child.on('exit', (code, signal) => this.#gone(child, code, signal));
    return child;
  }

  #onMessage(from: ChildProcess, message: unknown, handle: unknown): void {
    if (!isKeeperEnvelope(message)) {
      // In the successor the channel is `process`: its handoff traffic arrives bare.
      const pair = this.#pair?.next === from ? this.#pair : this.#draining;
      if (pair === undefined || from !== pair.next) {
        log('warn', 'a message outside any handoff was dropped', { node: from.pid });
        discard(handle);
        return;
      }
      this.#relay(pair.old, { keeper: 'relay', message }, handle, undefined);
      return;
    }
    const request = parseKeeperRequest(message);
    if (typeof request === 'string') {
      log('warn', `a bad message was dropped: ${request}`, { node: from.pid });
      discard(handle);
      return;
    }
    // Only these carry a handle: one that comes with any other request is not kept.
    if (request.keeper !== 'copy' && request.keeper !== 'relay') discard(handle);
    switch (request.keeper) {
      case 'spawn':
        this.#spawnSuccessor(from, request.spec);
        return;
      case 'relay': {
        const pair = this.#pair;
        if (pair !== undefined && from === pair.old)
          this.#relay(pair.next, request.message as Serializable, handle, request.server);
        else if (pair !== undefined && from === pair.next)
          this.#relay(pair.old, { keeper: 'relay', message: request.message }, handle, undefined);
        else {
          log('warn', 'a relay outside any handoff was dropped', { node: from.pid });
          discard(handle);
        }
        return;
      }
      case 'serving':
        if (from !== this.#serving && this.#alive.has(from)) {
          this.#serving = from;
          log('info', 'a new node serves', { node: from.pid });
        }
        // The handoff is over: the old node only finishes its last answers, and the new one
        // may hand off in its turn before the old one has exited.
        if (this.#pair?.next === from) {
          this.#draining = this.#pair;
          this.#pair = undefined;
        }
        return;
      case 'kill-successor':
        if (this.#pair?.old === from) this.#pair.next.kill('SIGKILL');
        return;
      case 'copy':
        if (!isRawHandle(handle)) return discard(handle);
        this.#copies.get(request.socket)?.close();
        this.#copies.set(request.socket, handle);
        return;
      case 'drop':
        this.#copies.get(request.socket)?.close();
        this.#copies.delete(request.socket);
        return;
      case 'copies': {
        const kept = new Set(request.sockets);
        for (const [id, handle] of this.#copies)
          if (!kept.has(id)) {
            handle.close();
            this.#copies.delete(id);
          }
        return;
      }
    }
  }

  #spawnSuccessor(from: ChildProcess, spec: SuccessorSpec): void {
    if (from !== this.#serving || this.#pair !== undefined) {
      notify(from, {
        keeper: 'spawn-failed',
        why:
          this.#pair === undefined ? 'only the serving node may start a successor' : 'a handoff is running',
      });
      return;
    }
    // The same command line the node would use to spawn its successor itself.
    const given = inheritance(this.#copies);
    let next: ChildProcess;
    try {
      next = this.#spawn(spec.nodeBinary, [...spec.execArgv, spec.entry, ...spec.args], given.stdio);
    } catch (err) {
      notify(from, { keeper: 'spawn-failed', why: (err as Error).message });
      return;
    }
    this.#pair = { old: from, next };
    next.once('spawn', () => {
      log('info', 'successor started', { from: from.pid, node: next.pid, sockets: given.sockets.length });
      notify(from, { keeper: 'spawned', pid: next.pid as number, inherited: given.sockets });
    });
    next.once('error', (err) => notify(from, { keeper: 'spawn-failed', why: err.message }));
  }

  /**
   * Carry a message and its handle to `to`. The keeper's own copy of a handle goes once it is
   * passed on: the sender keeps its copy until the other side confirms (keepOpen on its side).
   */
  #relay(to: ChildProcess, message: Serializable, handle: unknown, server: number | undefined): void {
    if (!to.connected) {
      log('warn', 'a message for a node that is gone was dropped', { node: to.pid });
      discard(handle);
      return;
    }
    if (handle instanceof net.Socket) {
      stopReading(handle);
      handle.on('error', () => {});
      to.send(message, handle, { keepOpen: false }, (err) => {
        if (err) log('warn', 'a socket could not be passed on', { node: to.pid, err: err.message });
      });
      return;
    }
    if (handle instanceof net.Server) {
      const from = this.#pair?.old;
      handle.on('error', () => {});
      // Until it is closed the keeper's copy listens too: hand what it accepts to the sender.
      handle.on('connection', (socket: net.Socket) => {
        stopReading(socket);
        if (from === undefined || server === undefined || !from.connected) return socket.destroy();
        from.send({ keeper: 'connection', server } satisfies KeeperNotice, socket, { keepOpen: false });
      });
      to.send(message, handle, (err) => {
        if (err) log('warn', 'a listener could not be passed on', { node: to.pid, err: err.message });
        handle.close();
      });
      return;
    }
    to.send(message, (err) => {
      if (err) log('warn', 'a message could not be passed on', { node: to.pid, err: err.message });
    });
    discard(handle);
  }

  #gone(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.#alive.delete(child)) return;
    const status = exitCode(code, signal);
    log(status === 0 ? 'info' : 'warn', 'a node exited', { node: child.pid, code, signal });
    if (child === this.#serving) this.#servingCode = status;
    if (this.#draining !== undefined && (child === this.#draining.old || child === this.#draining.next))
      this.#draining = undefined;
    const pair = this.#pair;
    if (pair !== undefined && (child === pair.old || child === pair.next)) {
      this.#pair = undefined;
      if (child === pair.next)
        notify(pair.old, { keeper: 'successor-gone', why: `successor exited (${signal ?? `code ${code}`})` });
      // The old node went before its successor took over: the successor's channel to it
      // breaks, as it would if the old node had spawned it itself.
      else if (pair.next !== this.#serving && pair.next.connected) pair.next.disconnect();
    }
    if (this.#alive.size === 0) this.#finish(this.#servingCode);
  }
}

function notify(to: ChildProcess, notice: KeeperNotice): void {
  if (to.connected)
    to.send(notice, (err) => err && log('warn', 'a notice was not delivered', { node: to.pid }));
}

/** A handle that came with a message nobody takes: close the keeper's copy. */
function discard(handle: unknown): void {
  if (handle instanceof net.Socket) {
    stopReading(handle);
    handle.destroy();
  } else if (handle instanceof net.Server) handle.close();
  else if (isRawHandle(handle)) handle.close();
}

/** Keep a node run from `entry` with this process's Node flags and arguments; exit as it does. */
export async function keepEntry(entry: string): Promise<never> {
  const keeper = new Keeper({
    nodeBinary: process.execPath,
    execArgv: process.execArgv,
    entry,
    args: process.argv.slice(2),
  });
  process.exit(await keeper.run());
}
