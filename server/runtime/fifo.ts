/**
 * A ring-buffer FIFO. Capacity doubles when full and is kept when the queue drains, so a
 * process that keeps receiving messages reuses one backing array instead of allocating
 * per message: young-generation garbage is what makes GC pauses stall the event loop.
 * A queue that grew past a burst shrinks back once it is empty.
 */
const INITIAL = 4;
const KEEP = 1024;

export class Fifo<T> {
  #items: (T | undefined)[] = new Array(INITIAL);
  #head = 0;
  #size = 0;

  get length(): number {
    return this.#size;
  }

  push(item: T): void {
    const cap = this.#items.length;
    if (this.#size === cap) this.#resize(cap * 2);
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    if (--this.#size === 0) {
      this.#head = 0;
      if (this.#items.length > KEEP) this.#items = new Array(INITIAL);
    }
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    const mask = this.#items.length - 1;
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#head + i) & mask] as T;
  }

  #resize(capacity: number): void {
    const next = new Array<T | undefined>(capacity);
    let i = 0;
    for (const item of this) next[i++] = item;
    this.#items = next;
    this.#head = 0;
  }
}
