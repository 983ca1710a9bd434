/**
 * A process's mailbox: a ring buffer of (kind, message, from) triples laid flat in one
 * array. Enqueueing a message allocates nothing once the ring has room, so the message
 * objects themselves are the only young garbage in flight — fewer survivors per scavenge,
 * shorter GC pauses with 100,000 busy processes.
 */
import type { From } from './behaviour.ts';

export type Kind = 'cast' | 'call' | 'info';

const INITIAL = 4;
const KEEP = 256;

export class Mailbox {
  #slots: unknown[] = new Array(INITIAL * 3);
  #capacity = INITIAL;
  #head = 0;
  #size = 0;

  get length(): number {
    return this.#size;
  }

  push(kind: Kind, message: unknown, from: From | null): void {
    if (this.#size === this.#capacity) this.#grow();
    const at = ((this.#head + this.#size) & (this.#capacity - 1)) * 3;
    this.#slots[at] = kind;
    this.#slots[at + 1] = message;
    this.#slots[at + 2] = from;
    this.#size++;
  }

  /** Put a message back in front (a crash guard retries it on other code). */
  unshift(kind: Kind, message: unknown, from: From | null): void {
    if (this.#size === this.#capacity) this.#grow();
    this.#head = (this.#head - 1 + this.#capacity) & (this.#capacity - 1);
    const at = this.#head * 3;
    this.#slots[at] = kind;
    this.#slots[at + 1] = message;
    this.#slots[at + 2] = from;
    this.#size++;
  }

  /** The oldest message; read its parts, then `drop()` it. */
  get kind(): Kind {
    return this.#slots[this.#head * 3] as Kind;
  }

  get message(): unknown {
    return this.#slots[this.#head * 3 + 1];
  }

  get from(): From | null {
    return this.#slots[this.#head * 3 + 2] as From | null;
  }

  /** Every message in order, left in place: what a process image carries. */
  entries(): { kind: Kind; message: unknown; from: From | null }[] {
    const out: { kind: Kind; message: unknown; from: From | null }[] = [];
    for (let i = 0; i < this.#size; i++) {
      const at = ((this.#head + i) & (this.#capacity - 1)) * 3;
      out.push({
        kind: this.#slots[at] as Kind,
        message: this.#slots[at + 1],
        from: this.#slots[at + 2] as From | null,
      });
    }
    return out;
  }

  drop(): void {
    const at = this.#head * 3;
    this.#slots[at + 1] = undefined;
    this.#slots[at + 2] = undefined;
    this.#head = (this.#head + 1) & (this.#capacity - 1);
    if (--this.#size === 0) {
      this.#head = 0;
      // A burst grew the ring; give the memory back once it has drained.
      if (this.#capacity > KEEP) {
        this.#capacity = INITIAL;
        this.#slots = new Array(INITIAL * 3);
      }
    }
  }

  #grow(): void {
    const capacity = this.#capacity * 2;
    const slots = new Array(capacity * 3);
    for (let i = 0; i < this.#size; i++) {
      const from = ((this.#head + i) & (this.#capacity - 1)) * 3;
      slots[i * 3] = this.#slots[from];
      slots[i * 3 + 1] = this.#slots[from + 1];
      slots[i * 3 + 2] = this.#slots[from + 2];
    }
    this.#slots = slots;
    this.#capacity = capacity;
    this.#head = 0;
  }
}
