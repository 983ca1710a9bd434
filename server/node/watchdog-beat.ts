/**
 * The shared memory between the node's main thread and its watchdog (watchdog.ts): a
 * heartbeat counter the main thread bumps on every beat of a timer (it can only fire when the
 * event loop turns), and the release on probation, which the watchdog writes down if it fires.
 */

const BEAT = 0;
const PROBATION_LENGTH = 1;
const HEADER_BYTES = 8;
/** Versions are short (version.ts); a longer one is cut. */
const PROBATION_BYTES = 120;

export const newBeatBuffer = (): SharedArrayBuffer => new SharedArrayBuffer(HEADER_BYTES + PROBATION_BYTES);

/** The main thread's side. */
export class Heartbeat {
  readonly #header: Int32Array;
  readonly #probation: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.#header = new Int32Array(buffer, 0, 2);
    this.#probation = new Uint8Array(buffer, HEADER_BYTES);
  }

  beat(): void {
    Atomics.add(this.#header, BEAT, 1);
  }

  /** The release on probation now, or null. */
  probation(version: string | null): void {
    const bytes = new TextEncoder().encode(version ?? '').subarray(0, PROBATION_BYTES);
    // Length 0 while the bytes change: a reader sees no release rather than half of one.
    Atomics.store(this.#header, PROBATION_LENGTH, 0);
    this.#probation.set(bytes);
    Atomics.store(this.#header, PROBATION_LENGTH, bytes.length);
  }
}

/** The watchdog's side: the beat count. */
export const readBeat = (buffer: SharedArrayBuffer): number =>
  Atomics.load(new Int32Array(buffer, 0, 2), BEAT);

/** The watchdog's side: the release on probation, or null. */
export function readProbation(buffer: SharedArrayBuffer): string | null {
  const length = Atomics.load(new Int32Array(buffer, 0, 2), PROBATION_LENGTH);
  if (length === 0) return null;
  // Decoded from a private copy: TextDecoder does not read shared memory.
  return new TextDecoder().decode(new Uint8Array(buffer, HEADER_BYTES, length).slice());
}
