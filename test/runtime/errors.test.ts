/**
 * The error catalogue: messages, narrowing, causes, and identity across copies. Its codes
 * against their documentation and HTTP statuses: test/errors/catalogue.test.ts.
 */
import { readFileSync } from 'node:fs';
import { transform } from 'esbuild';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ErrorCode,
  errorCodes,
  type Fault,
  HotlineError,
  hotlineError,
  hotlineErrorWithCause,
} from '../../server/errors/catalogue.ts';
import { newRuntime, thrown } from '../support/runtime.ts';

type Catalogue = typeof import('../../server/errors/catalogue.ts');

const catalogueUrl = new URL('../../server/errors/catalogue.ts', import.meta.url);

describe('codes', () => {
  it('formats messages from the arguments', () => {
    expect(hotlineError('HOT_ERR_NOPROC', '<7@a>').message).toBe('no process <7@a>');
    expect(hotlineError('HOT_ERR_CALL_TIMEOUT', '<7@a>', 250).message).toBe(
      'call to <7@a> timed out after 250 ms',
    );
    expect(hotlineError('HOT_ERR_MAX_CHILDREN', 3).message).toContain('3 children');
    expect(hotlineError('HOT_ERR_CODE_CHANGE_FAILED', '<7@a>', '1.0.0', '2.0.0').message).toBe(
      'codeChange of <7@a> from 1.0.0 to 2.0.0 failed',
    );
  });

  it('is what the runtime throws, with the code a client can match on', () => {
    const rt = newRuntime();
    const err = thrown(() => rt.spawn('no-such-module'));
    expect(err).toBeInstanceOf(HotlineError);
    expect((err as HotlineError).code).toBe('HOT_ERR_UNKNOWN_MODULE');
    expect((err as HotlineError).fault).toBe('caller');
  });
});

describe('HotlineError.is', () => {
  it('checks the brand and, when given, the code', () => {
    const err: unknown = hotlineError('HOT_ERR_NOPROC', '<1@n>');
    expect(HotlineError.is(err)).toBe(true);
    expect(HotlineError.is(err, 'HOT_ERR_NOPROC')).toBe(true);
    expect(HotlineError.is(err, 'HOT_ERR_CALL_TIMEOUT')).toBe(false);
  });

  it('narrows unknown to the error type with that code', () => {
    const err: unknown = hotlineError('HOT_ERR_CALL_TIMEOUT', '<1@n>', 5);
    if (!HotlineError.is(err, 'HOT_ERR_CALL_TIMEOUT')) throw new Error('expected a HotlineError');
    expectTypeOf(err).toEqualTypeOf<HotlineError<'HOT_ERR_CALL_TIMEOUT'>>();
    expectTypeOf(err.code).toEqualTypeOf<'HOT_ERR_CALL_TIMEOUT'>();
    expect(err.code).toBe('HOT_ERR_CALL_TIMEOUT');

    const any: unknown = err;
    if (!HotlineError.is(any)) throw new Error('expected a HotlineError');
    expectTypeOf(any).toEqualTypeOf<HotlineError<ErrorCode>>();
    expectTypeOf(any.fault).toEqualTypeOf<Fault>();
  });

  it('rejects plain errors, look-alikes and non-errors', () => {
    const withCode = Object.assign(new Error('no process'), { code: 'HOT_ERR_NOPROC', statusCode: 404 });
    const lookAlike = {
      name: 'HotlineError',
      code: 'HOT_ERR_NOPROC',
      statusCode: 404,
      message: 'no process',
    };
    const spread = { ...hotlineError('HOT_ERR_NOPROC', '<1@n>') };
    for (const v of [
      new Error('x'),
      withCode,
      lookAlike,
      spread,
      null,
      undefined,
      'HOT_ERR_NOPROC',
      404,
      {},
    ]) {
      expect(HotlineError.is(v)).toBe(false);
      expect(HotlineError.is(v, 'HOT_ERR_NOPROC')).toBe(false);
      expect(v instanceof HotlineError).toBe(false);
    }
  });
});

describe('causes', () => {
  it('keeps the cause it was given, and has none otherwise', () => {
    const cause = new Error('disk full');
    const err = hotlineErrorWithCause(cause, 'HOT_ERR_REPLACE_STATE_FAILED', '<1@n>');
    expect(err.cause).toBe(cause);
    expect(err.code).toBe('HOT_ERR_REPLACE_STATE_FAILED');
    expect(err.message).toBe('replaceState of <1@n> failed');
    const nonError = hotlineErrorWithCause('just a string', 'HOT_ERR_INIT_FAILED', 'm');
    expect(nonError.cause).toBe('just a string');
    expect('cause' in hotlineError('HOT_ERR_NOPROC', '<1@n>')).toBe(false);
  });

  it('chains: the runtime wraps the error that made init fail', () => {
    const rt = newRuntime();
    const cause = new Error('config missing');
    const err = thrown(() =>
      rt.spawn({
        name: 'broken',
        version: '1.0.0',
        init() {
          throw cause;
        },
      }),
    );
    expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
    expect((err as Error).cause).toBe(cause);
  });
});

describe('identity across copies of the catalogue', () => {
  /** Each release is its own bundle: the same source, evaluated again as a separate module. */
  let copies = 0;
  async function secondCopyByQuery(): Promise<Catalogue> {
    const url = `${catalogueUrl.href}?copy=${++copies}`;
    return (await import(/* @vite-ignore */ url)) as Catalogue;
  }

  /** The catalogue transpiled with esbuild and imported from a data: URL, outside vitest's module graph. */
  async function secondCopyByBundle(): Promise<Catalogue> {
    const { code } = await transform(readFileSync(catalogueUrl, 'utf8'), { loader: 'ts', format: 'esm' });
    const url = `data:text/javascript;base64,${Buffer.from(code).toString('base64')}`;
    return (await import(/* @vite-ignore */ url)) as Catalogue;
  }

  it.each([
    ['a second module instance', secondCopyByQuery],
    ['a separately built bundle', secondCopyByBundle],
  ])('treats errors from %s as HotlineErrors, both ways', async (_, load) => {
    const copy = await load();
    // Really a different class, not the same module handed back.
    expect(copy.HotlineError).not.toBe(HotlineError);
    const theirs = copy.hotlineError('HOT_ERR_CALL_TIMEOUT', '<2@n>', 100);
    expect(Object.getPrototypeOf(theirs)).not.toBe(HotlineError.prototype);
    expect(theirs instanceof HotlineError).toBe(true);
    expect(theirs).toBeInstanceOf(Error);
    expect(HotlineError.is(theirs, 'HOT_ERR_CALL_TIMEOUT')).toBe(true);
    expect(HotlineError.is(theirs, 'HOT_ERR_NOPROC')).toBe(false);
    expect(theirs.fault).toBe('node');
    const ours = hotlineError('HOT_ERR_NOPROC', '<1@n>');
    expect(ours instanceof copy.HotlineError).toBe(true);
    expect(copy.HotlineError.is(ours, 'HOT_ERR_NOPROC')).toBe(true);
    // The copy does not accept impostors either.
    expect(copy.HotlineError.is(Object.assign(new Error('x'), { code: 'HOT_ERR_NOPROC' }))).toBe(false);
    expect([...copy.errorCodes].sort()).toEqual([...errorCodes].sort());
  });
});
