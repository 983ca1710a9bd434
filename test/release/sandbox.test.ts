/**
 * A release's code is loaded first in a disposable worker thread with a time and a memory
 * limit (server/release/sandbox.ts): top-level code that exits, loops, throws or allocates
 * without bound is refused with a typed error there, and the handler never evaluates code in
 * the node that has not passed that check (upload, preflight, install, boot of a stored release).
 */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import { ReleaseHandler } from '../../server/release/handler.ts';
import { evaluateRelease } from '../../server/release/loader.ts';
import { checkInWorker, RELEASE_CHECK_LIMITS } from '../../server/release/sandbox.ts';
import { caught, newKeys, signAsTestRelease } from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { tempDataDir } from '../support/test-node.ts';
import {
  ALLOCATES_FOREVER,
  EXITS,
  EXITS_BY_MISTAKE,
  LOOPS_FOREVER,
  manifestOf,
  releaseAfter,
  THROWS,
} from './fixtures/unsafe.ts';

const V = '1.0.0';
const job = (prelude: string) => ({ code: releaseAfter(V, prelude), manifest: manifestOf(V) });
const refusal = async (prelude: string) =>
  (await caught(() => checkInWorker(V, job(prelude)))) as HotlineError;

describe('the check in a worker', () => {
  it('passes a release that loads and honours the contract, with the host modules it requires', async () => {
    const prelude = `require('hotline:runtime').noreply; require('hotline:errors').hotlineError;
      require('typebox').Type.Object({}); require('node:crypto').randomUUID();`;
    await checkInWorker(V, job(prelude));
  });

  it.each([
    ['exits', EXITS, 'exited (exit code 3)'],
    ['loops forever', LOOPS_FOREVER, `ran for more than ${RELEASE_CHECK_LIMITS.timeoutMs} ms`],
    [
      'allocates without bound',
      ALLOCATES_FOREVER,
      `ran out of its ${RELEASE_CHECK_LIMITS.memoryMb} MB of memory`,
    ],
  ])('refuses top-level code that %s with HOT_ERR_RELEASE_UNSAFE', async (_, prelude, why) => {
    const err = await refusal(prelude);
    expect(HotlineError.is(err, 'HOT_ERR_RELEASE_UNSAFE'), String(err)).toBe(true);
    expect(err.message).toContain(why);
  });

  it('refuses code that throws, or breaks the contract, with the loader’s own error', async () => {
    const threw = await refusal(THROWS);
    expect(threw.code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect(threw.message).toContain('refused at load');
    const broken = (await caught(() =>
      checkInWorker(V, { code: 'exports.release = {}', manifest: manifestOf(V) }),
    )) as HotlineError;
    expect(broken.code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect(broken.message).toContain('release.version is not a string');
  });
});

describe('release code and the node’s process', () => {
  it('sees no `process` in the node: a mistaken process.exit() throws instead of ending the node', async () => {
    const err = (await caught(() =>
      evaluateRelease(releaseAfter(V, EXITS_BY_MISTAKE), manifestOf(V)),
    )) as HotlineError;
    expect(err.code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect(err.message).toContain("reading 'exit'");
    const seen = "if (typeof process !== 'undefined') throw new Error('process is reachable');";
    expect(evaluateRelease(releaseAfter(V, seen), manifestOf(V)).version).toBe(V);
  });
});

describe('the handler evaluates no stored code that has not passed the check', () => {
  /** A handler on release 0.9.0 (built in) over a fresh data directory. */
  function handler() {
    const keys = newKeys();
    const { rt } = simulatedRuntime();
    const baseline = evaluateRelease(releaseAfter('0.9.0', ''), manifestOf('0.9.0'));
    return {
      keys,
      h: new ReleaseHandler({ rt, dataDir: tempDataDir(), baseline, trustedKeys: [keys.publicKey] }),
    };
  }

  /** The same, holding `prelude`'s release stored as a node that ran before would have: never checked by this one. */
  function withStored(prelude: string) {
    const { h, keys } = handler();
    h.store.save(signAsTestRelease(keys, V, releaseAfter(V, prelude)));
    return h;
  }

  it('at install, preflight and boot', async () => {
    for (const act of [
      (h: ReleaseHandler) => h.install(V),
      (h: ReleaseHandler) => h.preflight(V),
      (h: ReleaseHandler) => h.boot(V),
    ]) {
      const h = withStored(EXITS);
      const err = (await caught(() => act(h))) as HotlineError;
      expect(err.code).toBe('HOT_ERR_RELEASE_UNSAFE');
      expect(h.current.version).toBe('0.9.0');
    }
  });

  it('at upload: nothing is stored', async () => {
    const { h, keys } = handler();
    const err = (await caught(() =>
      h.unpack(signAsTestRelease(keys, V, releaseAfter(V, EXITS))),
    )) as HotlineError;
    expect(err.code).toBe('HOT_ERR_RELEASE_UNSAFE');
    expect(h.store.has(V)).toBe(false);
  });
});
