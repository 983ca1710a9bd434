/**
 * The messages one side of a handoff has received and not yet taken, so its steps read as a
 * sequence: `await inbox.take('ready', ms)`. Messages of the types given `handlers` (the
 * runtime's `dist`) never queue: they are handled as they come. Once the other side is gone,
 * every wait fails with why.
 */
import type { Handle, SuccessorChannel } from './channel.ts';
import type { HandoffMessage, HandoffMessageType, MessageOfType } from './protocol.ts';

export interface Received<T extends HandoffMessageType> {
  message: MessageOfType<T>;
  handle: Handle | undefined;
}

type AnyReceived = { message: HandoffMessage; handle: Handle | undefined };
type Waiter = {
  types: readonly HandoffMessageType[];
  resolve(r: AnyReceived): void;
  reject(err: Error): void;
};

export class Inbox {
  readonly #queue: AnyReceived[] = [];
  readonly #waiters = new Set<Waiter>();
  #gone: string | undefined;

  constructor(
    channel: Pick<SuccessorChannel, 'onMessage' | 'onGone'>,
    readonly handlers: Partial<{
      [T in HandoffMessageType]: (m: MessageOfType<T>, handle: Handle | undefined) => void;
    }> = {},
  ) {
    channel.onMessage((message, handle) => this.#deliver({ message, handle }));
    channel.onGone((why) => this.#fail(why));
  }

  #fail(why: string): void {
    if (this.#gone !== undefined) return;
    this.#gone = why;
    for (const w of this.#waiters) w.reject(new Error(why));
    this.#waiters.clear();
  }

  get gone(): string | undefined {
    return this.#gone;
  }

  #deliver(r: AnyReceived): void {
    const handler = this.handlers[r.message.type] as
      | ((m: HandoffMessage, h: Handle | undefined) => void)
      | undefined;
    if (handler !== undefined) {
      try {
        handler(r.message, r.handle);
      } catch (err) {
        // A message of the right type and the wrong shape (a successor's bug): never a throw
        // in the channel's listener, which would end this process; every wait fails instead.
        this.#fail(`a ${r.message.type} message could not be handled: ${(err as Error).message}`);
      }
      return;
    }
    for (const w of this.#waiters) {
      if (!w.types.includes(r.message.type)) continue;
      this.#waiters.delete(w);
      return w.resolve(r);
    }
    this.#queue.push(r);
  }

  /** The next message of one of `types` (the first that came, in order); fails after `timeoutMs` or once the other side is gone. */
  take<T extends HandoffMessageType>(
    types: T | readonly T[],
    timeoutMs: number,
    what: string,
  ): Promise<Received<T>> {
    const wanted: readonly HandoffMessageType[] = typeof types === 'string' ? [types] : types;
    const at = this.#queue.findIndex((r) => wanted.includes(r.message.type));
    if (at >= 0) return Promise.resolve(this.#queue.splice(at, 1)[0] as unknown as Received<T>);
    if (this.#gone !== undefined) return Promise.reject(new Error(this.#gone));
    return new Promise<Received<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no answer within ${timeoutMs} ms while ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        types: wanted,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as unknown as Received<T>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }
}
