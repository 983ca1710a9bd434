/**
 * A Bloom filter over strings: "certainly not here" or "maybe here". A segment's index
 * keeps one per block of CDRs (users and call ids), so a query for one user skips the
 * blocks that never saw that user without reading them.
 */
export interface Bloom {
  /** Bit count and hash count. */
  m: number;
  k: number;
  bits: Uint8Array;
}

/** About 2% false positives at this many bits per key with the best k (bits·ln 2). */
const BITS_PER_KEY = 8;
const HASHES = 5;

/** Two independent 32-bit FNV-1a hashes; the k probes are h1 + i·h2 (Kirsch–Mitzenmacher). */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, (b | 1) >>> 0];
}

export function bloomOf(keys: Iterable<string>, count: number): Bloom {
  // Never tiny: a block of a few keys would otherwise answer 'maybe' for a few percent of others.
  const m = Math.max(512, Math.ceil((count * BITS_PER_KEY) / 8) * 8);
  const bloom: Bloom = { m, k: HASHES, bits: new Uint8Array(m / 8) };
  for (const key of keys) {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + i * h2) % m;
      bloom.bits[bit >>> 3] = (bloom.bits[bit >>> 3] ?? 0) | (1 << (bit & 7));
    }
  }
  return bloom;
}

export function mayHave(bloom: Bloom, key: string): boolean {
  const [h1, h2] = hashes(key);
  for (let i = 0; i < bloom.k; i++) {
    const bit = (h1 + i * h2) % bloom.m;
    if (((bloom.bits[bit >>> 3] ?? 0) & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

/** As it is kept in an index file. */
export const bloomToJson = (b: Bloom) => ({ m: b.m, k: b.k, bits: Buffer.from(b.bits).toString('base64') });
export type BloomJson = ReturnType<typeof bloomToJson>;
export const bloomFromJson = (j: BloomJson): Bloom => ({
  m: j.m,
  k: j.k,
  bits: new Uint8Array(Buffer.from(j.bits, 'base64')),
});
