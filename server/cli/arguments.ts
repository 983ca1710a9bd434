/**
 * Parsers of option values shared by every `hotline` command, so `--watch 10s` means the same
 * everywhere; and how they print an answer.
 */
import { InvalidArgumentError } from 'commander';
import ms from 'ms';

export const fraction = (value: string): number => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a fraction between 0 and 1');
  return n;
};

export const wholeNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
};

/** Milliseconds: `10s`, `500ms`, `2m` (the `ms` package), or a bare number of milliseconds. */
export const duration = (value: string): number => {
  const n = /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a duration such as 10s, 500ms or 2m');
  return n;
};

/** An answer of the node, as indented JSON on stdout. */
export const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};
