/**
 * Decoding a text frame into a validated client message, with a typed error for every way
 * it can be wrong. The front door uses it without knowing what the messages mean.
 */
import { Compile } from 'typebox/compile';
import { type HotlineError, hotlineError } from '../../errors/catalogue.ts';
import { type ClientMessage, type ClientMessageType, clientMessages } from './messages.ts';

const validators = new Map(Object.entries(clientMessages).map(([type, schema]) => [type, Compile(schema)]));

export type Decoded = { ok: true; message: ClientMessage } | { ok: false; error: HotlineError; ref?: string };

export function decodeClientFrame(text: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: hotlineError('HOT_ERR_INVALID_JSON') };
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof type !== 'string') {
    return {
      ok: false,
      error: hotlineError('HOT_ERR_SCHEMA', '', 'a frame must be an object with a string "type"'),
    };
  }
  const validator = validators.get(type);
  if (validator === undefined)
    return {
      ok: false,
      error: hotlineError('HOT_ERR_UNKNOWN_TYPE', type.slice(0, 64)),
      ref: type.slice(0, 64),
    };
  if (!validator.Check(value)) {
    const first =
      [...validator.Errors(value)].find((e) => e.keyword !== 'boolean') ?? [...validator.Errors(value)][0];
    return {
      ok: false,
      error: hotlineError(
        'HOT_ERR_SCHEMA',
        first?.instancePath ?? '',
        first?.message ?? 'does not match the schema',
      ),
      ref: type,
    };
  }
  return { ok: true, message: value as ClientMessage };
}

export function isClientMessageType(type: string): type is ClientMessageType {
  return validators.has(type);
}
