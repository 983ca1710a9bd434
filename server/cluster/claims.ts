/**
 * Once-only claims across the cluster: the first node to claim a key has it, and every later
 * claim of that key is refused, whichever node makes it and however often. Two nodes that
 * may both act on one thing (both legs of a call ending with its node lost, say, or a node
 * recovering after the others acted) claim it first, and only the winner acts.
 *
 * A JetStream KV bucket written create-only. Entries live for `ttlMs`: a claim must outlast
 * the longest a node stays down before it restarts and claims again.
 */
import type { JetStreamClient, KV } from 'nats';
import { encode } from './wire.ts';

export const CLAIMS_BUCKET = 'hotline_claims';
/** A week: a node down for longer than that can claim again what was claimed before it died. */
export const CLAIM_TTL_MS = 7 * 24 * 3600 * 1000;
/** NATS not answering (a partition, a restart): try again this often until it does. */
const RETRY_MS = 500;

/** JetStream's "wrong last sequence": a create of a key that exists. */
const KEY_EXISTS = 10071;

export class Claims {
  #closed = false;

  private constructor(
    readonly kv: KV,
    readonly node: string,
  ) {}

  static async open(
    js: JetStreamClient,
    node: string,
    options: { bucket?: string; ttlMs?: number } = {},
  ): Promise<Claims> {
    const kv = await js.views.kv(options.bucket ?? CLAIMS_BUCKET, {
      history: 1,
      ttl: options.ttlMs ?? CLAIM_TTL_MS,
    });
    return new Claims(kv, node);
  }

  /**
   * True when this node is the first to claim `key`, false when another claim came first.
   * While NATS cannot answer, it keeps trying; it rejects only once the claims are closed.
   */
  async claim(key: string): Promise<boolean> {
    for (;;) {
      try {
        await this.kv.create(key, encode({ node: this.node, at: Date.now() }));
        return true;
      } catch (err) {
        if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === KEY_EXISTS) return false;
      }
      if (this.#closed) throw new Error(`claims closed before ${key} could be claimed`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
    }
  }

  close(): void {
    this.#closed = true;
  }
}
