/**
 * The phones' sockets, sent to the successor (B) ahead of their batches while the phones run
 * on in the old process (A). Most of them B got as descriptors when it was spawned
 * (inherit.ts): A names those (`inherit`) as soon as B runs. The rest (phones that came after
 * the spawn) go one by one over IPC, one handle per round trip (under the keeper, two legs of
 * them), from the moment B runs (`receiving`, while its code still loads). B holds each copy unread and
 * answers `held`; a batch whose sockets B holds sends only images. At most WINDOW sockets are
 * on their way at once, and the stream falls quiet and clears before a batch is paused
 * (`quiet`), so a batch's messages, on the same channel, wait behind none. The stream is only ahead of the batches: a socket it
 * did not get to (a phone that came later, a stream that failed) travels with its batch.
 */
import type { WebSocket } from 'ws';
import { socketOf } from '../http/ws-handoff.ts';
import type { SuccessorChannel } from './channel.ts';
import type { Inbox } from './inbox.ts';

/** Sockets sent and not yet held: enough to keep both legs of the keeper's relay busy when its round trips are slow (a loaded machine, B still loading). */
const WINDOW = 128;

interface Waiter {
  readonly missing: Set<number>;
  resolve(): void;
}

export class SocketStream {
  readonly #channel: SuccessorChannel;
  /** Not sent yet, in the order they go. */
  #queue = new Map<number, WebSocket>();
  /** Sent, not held yet. */
  readonly #sending = new Set<number>();
  /** Named in `inherit`, so B can be asked for them again if it could not open them. */
  readonly #inheriting = new Map<number, WebSocket>();
  readonly #held = new Set<number>();
  #started = false;
  #quiet = false;
  #pumping = false;
  #over = false;
  readonly #waiters = new Set<Waiter>();

  constructor(channel: SuccessorChannel, inbox: Inbox) {
    this.#channel = channel;
    inbox.handlers.receiving = () => {
      this.#started = true;
      this.#inherit();
      void this.#pump();
    };
    inbox.handlers.held = (m) => {
      for (const socket of m.sockets) {
        this.#sending.delete(socket);
        this.#held.add(socket);
        this.#settled(socket);
      }
      // Descriptors B could not open: their sockets go over IPC, first.
      const again = new Map<number, WebSocket>();
      for (const socket of m.notHeld ?? []) {
        const ws = this.#inheriting.get(socket);
        if (ws !== undefined && this.#sending.delete(socket)) again.set(socket, ws);
      }
      if (again.size > 0) this.#queue = new Map([...again, ...this.#queue]);
      void this.#pump();
    };
  }

  /** Name the sockets B got as descriptors: on their way until B says it holds them. */
  #inherit(): void {
    const { inherited } = this.#channel;
    if (inherited.length === 0) return;
    for (const socket of inherited) {
      const ws = this.#queue.get(socket);
      if (ws === undefined) continue;
      this.#queue.delete(socket);
      this.#inheriting.set(socket, ws);
      this.#sending.add(socket);
    }
    // The whole list, in order: its positions are B's descriptors.
    this.#channel.send({ type: 'inherit', sockets: inherited }).catch(() => this.stop());
  }

  /** Queue these phones' sockets, after those queued already. */
  push(phones: Iterable<readonly [socket: number, ws: WebSocket]>): void {
    for (const [socket, ws] of phones)
      if (!this.#held.has(socket) && !this.#sending.has(socket)) this.#queue.set(socket, ws);
    void this.#pump();
  }

  /** Whether B holds this socket: its batch need not send it. */
  holds(socket: number): boolean {
    return this.#held.has(socket);
  }

  /** Whether any of `sockets` is still to go ahead (queued, or on its way). */
  needs(sockets: readonly number[]): boolean {
    return !this.#over && sockets.some((s) => this.#queue.has(s) || this.#sending.has(s));
  }

  /**
   * Resolves once B holds each of `sockets`, or it cannot go ahead (closed, not movable, never
   * queued, the stream over): its batch then sends it. Those still queued go first.
   */
  ahead(sockets: readonly number[]): Promise<void> {
    const missing = new Set(sockets.filter((s) => this.#queue.has(s) || this.#sending.has(s)));
    if (missing.size === 0 || this.#over) return Promise.resolve();
    const first = new Map<number, WebSocket>();
    for (const [s, ws] of this.#queue) if (missing.has(s)) first.set(s, ws);
    for (const [s, ws] of this.#queue) if (!missing.has(s)) first.set(s, ws);
    this.#queue = first;
    // Sent, not held yet: wait for those too.
    return new Promise((resolve) => {
      this.#waiters.add({ missing, resolve });
      void this.#pump();
    });
  }

  /**
   * Before a batch is paused: send nothing more until `resume`, and resolve once B holds every
   * socket on its way, so the batch's messages wait behind none (the phones still run meanwhile).
   */
  quiet(): Promise<void> {
    this.#quiet = true;
    if (this.#sending.size === 0 || this.#over) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ missing: new Set(this.#sending), resolve }));
  }

  resume(): void {
    this.#quiet = false;
    void this.#pump();
  }

  /** The handoff is over (done or failed): send nothing more. */
  stop(): void {
    this.#over = true;
    this.#queue.clear();
    for (const w of this.#waiters) w.resolve();
    this.#waiters.clear();
  }

  #settled(socket: number): void {
    for (const w of this.#waiters) {
      w.missing.delete(socket);
      if (w.missing.size > 0) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#started && !this.#over && !this.#quiet && this.#sending.size < WINDOW) {
        const next = this.#queue.entries().next();
        if (next.done === true) return;
        const [socket, ws] = next.value;
        this.#queue.delete(socket);
        const handle = socketOf(ws);
        if (handle === undefined) {
          this.#settled(socket);
          continue;
        }
        this.#sending.add(socket);
        await this.#channel.send({ type: 'socket', socket }, handle);
      }
    } catch {
      // The channel broke: the handoff fails on its own; what waits goes on without the stream.
      this.stop();
    } finally {
      this.#pumping = false;
    }
  }
}
