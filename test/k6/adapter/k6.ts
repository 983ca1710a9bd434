/** `k6`: check, sleep, group, fail, randomSeed. */
import { vu } from './vu-context.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function check<T>(
  value: T,
  sets: Record<string, (v: T) => boolean>,
  tags: Record<string, string> = {},
): boolean {
  let all = true;
  for (const [name, fn] of Object.entries(sets)) {
    // As in k6, a check function that throws throws out of check().
    const ok = Boolean(fn(value));
    vu.emit('checks', ok, { ...tags, check: name });
    all &&= ok;
  }
  return all;
}

/** Blocks the VU's thread, as k6's sleep blocks the VU's event loop. */
export function sleep(seconds: number): void {
  Atomics.wait(sleeper, 0, 0, Math.max(0, seconds * 1000));
}

export function group<T>(name: string, fn: () => T): T {
  const outer = vu.group;
  vu.group = `${outer}::${name}`;
  try {
    return fn();
  } finally {
    vu.group = outer;
  }
}

export function fail(message = ''): never {
  throw new Error(message);
}

export function randomSeed(_seed: number): void {
  // Math.random cannot be seeded in Node; no script here relies on it.
}

export default { check, sleep, group, fail, randomSeed };
