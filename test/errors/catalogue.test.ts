/**
 * The catalogue against its one documentation, server/errors/README.md (as fastify checks
 * its FST_ERR_* codes against its docs): every code documented once, every documented code
 * real, and each row's fault and HTTP status the code's own.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ErrorCode, errorCodes, type Fault, HotlineError } from '../../server/errors/catalogue.ts';
import { httpStatus } from '../../server/http/errors.ts';

const readme = readFileSync(new URL('../../server/errors/README.md', import.meta.url), 'utf8');

/** The README's table rows: `| \`HOT_ERR_…\` | fault | HTTP status | message |`. */
const documented = [...readme.matchAll(/^\| `(\w+)` +\| (\w+) +\| (\d+) +\|/gm)].map((m) => ({
  code: m[1] as string,
  fault: m[2] as Fault,
  status: Number(m[3]),
}));
const documentedCodes = documented.map((d) => d.code);

/** Arguments for any code: enough to build its message. */
const sampleArgs = ['<1@test>', 'x', 'y'] as never;

describe('every error code is documented, and every documented code exists', () => {
  it('reads the tables', () => {
    // A table the pattern misses would leave every code undocumented: fail loudly here first.
    expect(documented.length).toBeGreaterThan(0);
  });

  it('documents every code in the catalogue', () => {
    expect(errorCodes.filter((code) => !documentedCodes.includes(code))).toStrictEqual([]);
  });

  it('documents only codes the catalogue has, each once', () => {
    expect(documentedCodes.filter((code) => !(errorCodes as string[]).includes(code))).toStrictEqual([]);
    expect(documentedCodes.filter((code, i) => documentedCodes.indexOf(code) !== i)).toStrictEqual([]);
  });

  it('names codes HOT_ERR_ and upper-case words, each once', () => {
    expect(new Set(errorCodes).size).toBe(errorCodes.length);
    for (const code of errorCodes) expect(code).toMatch(/^HOT_ERR_[A-Z]+(_[A-Z]+)*$/);
  });

  it.each(documented)('$code: $fault fault, HTTP $status, as documented', ({ code, fault, status }) => {
    const err = new HotlineError(code as ErrorCode, sampleArgs);
    expect(err.code).toBe(code);
    expect(err.fault).toBe(fault);
    expect(httpStatus[code as ErrorCode]).toBe(status);
    expect(err.name).toBe('HotlineError');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(HotlineError);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.message).not.toContain('undefined');
    expect(err.stack).toContain('HotlineError');
  });
});

describe('faults and HTTP statuses', () => {
  it("answers the node's faults with 5xx and the caller's with 4xx", () => {
    const classOf = (code: ErrorCode) => (httpStatus[code] >= 500 ? 'node' : 'caller');
    const mismatched = errorCodes.filter(
      (code) => new HotlineError(code, sampleArgs).fault !== classOf(code),
    );
    expect(mismatched).toStrictEqual([]);
    for (const code of errorCodes) expect(httpStatus[code]).toBeGreaterThanOrEqual(400);
    for (const code of errorCodes) expect(httpStatus[code]).toBeLessThan(600);
  });

  it("keeps `statusCode >= 500` meaning the node's fault, as shipped release code reads it", () => {
    for (const code of errorCodes) {
      const err = new HotlineError(code, sampleArgs);
      expect(err.statusCode >= 500, code).toBe(err.fault === 'node');
    }
  });
});
