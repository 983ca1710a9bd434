/**
 * Once-only claims across the cluster: the first claim of a key has it, and every other claim
 * of that key is refused. Two nodes that may both act on one thing (both legs of a call
 * ending with a node lost, say, or a node recovering after the others acted) claim it first,
 * and only the winner acts. A claimant names itself with a token it keeps (on disk, if it
 * may stop before it acts): asking again with the same token (a retry after a timeout the
 * server had in fact answered, a process restarted before it acted) gets the same answer.
 *
 * A JetStream KV bucket written create-only. Entries live for `ttlMs`: a claim must outlast
 * the longest a node stays down before it restarts and claims again.
 */
import type { JetStreamClient, KV } from 'nats';
import Type from 'typebox';
import { encode, reader } from './wire.ts';

export const CLAIMS_BUCKET = 'hotline_claims';
/**
 * A day: every call across nodes leaves a key (about 200 bytes in JetStream) for this long,
 * and a node down for longer than that can win again a claim its survivors won before.
 */
export const CLAIM_TTL_MS = 24 * 3600 * 1000;
/** NATS not answering (a partition, a restart, a leader election): try again this often. */
const RETRY_MS = 500;

/** JetStream's "wrong last sequence": a create of a key that exists. */
const KEY_EXISTS = 10071;
/** Failures that pass once NATS answers again; anything else (no bucket, no permission) does not. */
const TRANSIENT = new Set(['TIMEOUT', 'DISCONNECT', '503']);

interface Claim {
  node: string;
  token: string;
  at: number;
}
const readClaim = reader<Claim>(
  Type.Object({ node: Type.String(), token: Type.String(), at: Type.Number() }),
);

export interface ClaimsOptions {
  bucket?: string;
  ttlMs?: number;
  /** Told when a claim has to wait for NATS (once per claim), so that a wait is never silent. */
  onWait?: ((key: string, err: unknown) => void) | undefined;
}

export class Claims {
  #closed = false;
  readonly #asking = new Set<Promise<unknown>>();

  private constructor(
    readonly kv: KV,
    readonly node: string,
    readonly onWait: ClaimsOptions['onWait'],
  ) {}

  static async open(js: JetStreamClient, node: string, options: ClaimsOptions = {}): Promise<Claims> {
    const kv = await js.views.kv(options.bucket ?? CLAIMS_BUCKET, {
      history: 1,
      ttl: options.ttlMs ?? CLAIM_TTL_MS,
    });
    return new Claims(kv, node, options.onWait);
  }

  /**
   * True when the claim made with `token` has `key` (it came first), false when another did.
   * While NATS cannot answer it keeps trying; it rejects on a lasting failure, or once the
   * claims are closed (the node is leaving).
   */
  claim(key: string, token: string): Promise<boolean> {
    const asked = this.#claim(key, token);
    this.#asking.add(asked);
    const done = () => this.#asking.delete(asked);
    asked.then(done, done);
    return asked;
  }

  /**
   * Resolves once every claim asked so far has its answer, or after `timeoutMs`: a process
   * handing the node over lets its answers reach the journal, which moved, before it goes.
   */
  async answered(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.#asking]), late]);
    clearTimeout(timer);
  }

  async #claim(key: string, token: string): Promise<boolean> {
    for (let waited = false; ; waited = true) {
      try {
        return await this.#tryClaim(key, token);
      } catch (err) {
        if (!TRANSIENT.has((err as { code?: string }).code ?? '') || this.#closed) throw err;
        if (!waited) this.onWait?.(key, err);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
    }
  }

  async #tryClaim(key: string, token: string): Promise<boolean> {
    for (;;) {
      try {
        await this.kv.create(key, encode({ node: this.node, token, at: Date.now() } satisfies Claim));
        return true;
      } catch (err) {
        if ((err as { api_error?: { err_code?: number } }).api_error?.err_code !== KEY_EXISTS) throw err;
      }
      const holder = await this.holder(key);
      // Gone between the two (its time was up): create it again.
      if (holder !== undefined) return holder.token === token;
    }
  }

  /** The claim that holds `key`, if any does. */
  async holder(key: string): Promise<Claim | undefined> {
    const entry = await this.kv.get(key);
    return entry === null || entry.operation !== 'PUT' ? undefined : readClaim(entry.value);
  }

  close(): void {
    this.#closed = true;
  }
}
