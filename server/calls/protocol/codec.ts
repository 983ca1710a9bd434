/**
 * Decoding a text frame into a validated client message, with a typed error for every way
 * it can be wrong. The front door uses it without knowing what the messages mean.
 *
 * A node knows the base protocol and, once it loads a release, the messages that release
 * adds (`learn`): a new message reaches a running node with the release that handles it.
 * The door accepts a frame some loaded release declares; a session on a release that does
 * not handle it answers HOT_ERR_UNSUPPORTED_TYPE, as for any type its release lacks.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { type HotlineError, hotlineError } from '../../errors/catalogue.ts';
import { protocolJsonSchema } from './json-schema.ts';
import { baseClientMessages, baseServerMessages, type ProtocolAdditions } from './messages.ts';
import type { ClientMessage } from './shipped.ts';

export type Decoded = { ok: true; message: ClientMessage } | { ok: false; error: HotlineError; ref?: string };

type Validator = ReturnType<typeof Compile>;
/** A compiled schema, with its JSON text to tell two releases' declarations apart. */
type Known = { json: string; validator: Validator };
const known = (schema: TSchema): Known => ({ json: JSON.stringify(schema), validator: Compile(schema) });

/** Why a release's protocol additions cannot be learnt, or undefined if they can. */
export function additionsProblem(additions: ProtocolAdditions | undefined): string | undefined {
  if (additions === undefined) return undefined;
  if (!isObject(additions)) return 'its protocol is not an object';
  for (const [side, base] of [
    ['client', baseClientMessages],
    ['server', baseServerMessages],
  ] as const) {
    const messages: unknown = additions[side] ?? {};
    if (!isObject(messages)) return `its ${side} messages are not an object`;
    for (const [type, schema] of Object.entries(messages)) {
      if (Object.hasOwn(base, type)) return `it redefines the base ${side} message ${type}`;
      if (!isObject(schema)) return `its ${side} message ${type} is not a schema`;
      const literal = (schema as { properties?: { type?: { const?: unknown } } }).properties?.type?.const;
      if (literal !== type)
        return `its ${side} message ${type} does not fix "type" to ${JSON.stringify(type)}`;
      try {
        Compile(schema as TSchema);
      } catch (err) {
        return `its ${side} message ${type} is not a valid schema: ${String(err)}`;
      }
    }
  }
  return undefined;
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

export class ClientProtocol {
  /** Per type, each distinct schema a loaded release declared. */
  readonly #validators = new Map<string, Known[]>();
  readonly #additions = new Map<string, ProtocolAdditions>();

  constructor() {
    for (const [type, schema] of Object.entries(baseClientMessages))
      this.#validators.set(type, [known(schema)]);
  }

  /** Learn the messages release `version` adds (checked first with additionsProblem). */
  learn(version: string, additions: ProtocolAdditions | undefined): void {
    if (additions === undefined || this.#additions.has(version)) return;
    this.#additions.set(version, additions);
    for (const [type, schema] of Object.entries(additions.client ?? {})) {
      const declared = known(schema);
      const before = this.#validators.get(type) ?? [];
      if (!before.some((k) => k.json === declared.json)) this.#validators.set(type, [...before, declared]);
    }
  }

  /** What this node accepts and sends now: the base protocol and what its releases added. */
  jsonSchema(): Record<string, unknown> {
    return protocolJsonSchema([...this.#additions.values()]);
  }

  decode(text: string): Decoded {
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
    const validators = this.#validators.get(type);
    if (validators === undefined)
      return {
        ok: false,
        error: hotlineError('HOT_ERR_UNKNOWN_TYPE', type.slice(0, 64)),
        ref: type.slice(0, 64),
      };
    if (validators.some((k) => k.validator.Check(value)))
      return { ok: true, message: value as ClientMessage };
    const errors = [...(validators[0] as Known).validator.Errors(value)];
    const first = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
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
}
