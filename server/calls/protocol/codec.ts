/**
 * Decoding a text frame into a validated client message, with a typed error for every way
 * it can be wrong. The front door uses it without knowing what the messages mean.
 *
 * A node knows the base protocol and, once it loads a release, the messages that release
 * adds (`learn`): a new message reaches a running node with the release that handles it.
 * The door accepts a frame some loaded release declares; a session on a release that does
 * not handle it answers HOT_ERR_UNSUPPORTED_TYPE, as for any type its release lacks. A type
 * has one schema for good: a release may add types, never redefine one the node knows, so
 * no session gets a frame its own release would not accept.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { type HotlineError, hotlineError } from '../../errors/catalogue.ts';
import { protocolJsonSchema } from './json-schema.ts';
import { baseClientMessages, baseServerMessages, type ProtocolAdditions } from './messages.ts';
import type { ClientMessage } from './shipped.ts';

export type Decoded = { ok: true; message: ClientMessage } | { ok: false; error: HotlineError; ref?: string };

type Side = 'client' | 'server';
type Validator = ReturnType<typeof Compile>;
const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: TSchema, b: TSchema): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

export class ClientProtocol {
  /** Every type's one schema, per side: the base, then what loaded releases added. */
  readonly #schemas: Record<Side, Map<string, TSchema>> = {
    client: new Map(Object.entries(baseClientMessages)),
    server: new Map(Object.entries(baseServerMessages)),
  };
  readonly #validators = new Map(Object.entries(baseClientMessages).map(([t, s]) => [t, Compile(s)]));
  /** Validators `problem` compiled to prove a schema, kept for `learn`. */
  readonly #compiled = new WeakMap<TSchema, Validator>();

  /** Why a release's additions cannot be learnt here, or undefined if they can. */
  problem(additions: ProtocolAdditions | undefined): string | undefined {
    if (additions === undefined) return undefined;
    if (!isObject(additions)) return 'its protocol is not an object';
    for (const side of ['client', 'server'] as const) {
      const messages: unknown = additions[side] ?? {};
      if (!isObject(messages)) return `its ${side} messages are not an object`;
      for (const [type, schema] of Object.entries(messages)) {
        if (Object.hasOwn(side === 'client' ? baseClientMessages : baseServerMessages, type))
          return `it redefines the base ${side} message ${type}`;
        if (!isObject(schema)) return `its ${side} message ${type} is not a schema`;
        const literal = (schema as { properties?: { type?: { const?: unknown } } }).properties?.type?.const;
        if (literal !== type)
          return `its ${side} message ${type} does not fix "type" to ${JSON.stringify(type)}`;
        const known = this.#schemas[side].get(type);
        if (known !== undefined && !same(known, schema as TSchema))
          return `its ${side} message ${type} differs from the one a release loaded here declared (add a new type instead)`;
        if (known === undefined && !this.#compiled.has(schema as TSchema))
          try {
            this.#compiled.set(schema as TSchema, Compile(schema as TSchema));
          } catch (err) {
            return `its ${side} message ${type} is not a valid schema: ${String(err)}`;
          }
      }
    }
    return undefined;
  }

  /** Learn the messages a release adds; refused (HOT_ERR_RELEASE_LOAD_FAILED's cause) as `problem` says. */
  learn(additions: ProtocolAdditions | undefined): void {
    const problem = this.problem(additions);
    if (problem !== undefined) throw new Error(problem);
    for (const side of ['client', 'server'] as const)
      for (const [type, schema] of Object.entries(additions?.[side] ?? {})) {
        if (this.#schemas[side].has(type)) continue;
        this.#schemas[side].set(type, schema);
        if (side === 'client') this.#validators.set(type, this.#compiled.get(schema) ?? Compile(schema));
      }
  }

  /** What this node accepts and sends now: the base protocol and what its releases added. */
  jsonSchema(): Record<string, unknown> {
    return protocolJsonSchema([
      { client: Object.fromEntries(this.#schemas.client), server: Object.fromEntries(this.#schemas.server) },
    ]);
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
    const validator = this.#validators.get(type);
    if (validator === undefined)
      return {
        ok: false,
        error: hotlineError('HOT_ERR_UNKNOWN_TYPE', type.slice(0, 64)),
        ref: type.slice(0, 64),
      };
    if (validator.Check(value)) return { ok: true, message: value as ClientMessage };
    const errors = [...validator.Errors(value)];
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
