/**
 * A phone that comes back on another node of the cluster: a valid register on node B for a
 * user a connection on node A holds has A close that connection as a register on A would
 * (HOT_ERR_REGISTRATION_REPLACED, 4409, its call ended with its CDR on A), then goes on once
 * B's copy of the directory no longer names the user. B asks A's front door over the
 * cluster's node requests, passing the register's token: A checks it again with its own
 * keys, since a request on NATS may come from anyone, and without a valid token for that
 * user nothing changes on A.
 */
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { NodeRequests } from '../cluster/node-requests.ts';
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import type { PhoneAuth } from './phone-auth.ts';
import type { Elsewhere } from './registration-gate.ts';

/** The node request's topic. */
export const REPLACE_TOPIC = 'phone-replace';

const TakeOver = Compile(
  Type.Object({ user: Type.String({ maxLength: 64 }), token: Type.String({ maxLength: 8192 }) }),
);
type TakeOver = { user: string; token: string };
/** A's answer: it let go (`released`: a connection of its held the user), or why it refused. */
type Answer = { released: boolean } | { refused: string };
const AnswerSchema = Compile(
  Type.Union([
    Type.Object({ released: Type.Boolean() }),
    Type.Object({ refused: Type.String({ maxLength: 100 }) }),
  ]),
);

export interface ClusterReplacementOptions {
  requests: NodeRequests;
  /** This node's name. */
  node: string;
  /** The node whose directory entry holds `user`, if any does. */
  holder(user: string): string | undefined;
  auth: PhoneAuth;
  /** From the ask to the name being free here, then the register is refused: 5 s by default. */
  timeoutMs?: number;
  /** How often this node's copy of the directory is looked at meanwhile. */
  pollMs?: number;
  /** A peer's request refused (its code), for the log. */
  refused(code: string): void;
}

export class ClusterReplacement implements Elsewhere {
  constructor(private readonly o: ClusterReplacementOptions) {}

  async takeOver(user: string, token: unknown): Promise<HotlineError | undefined> {
    const { o } = this;
    const node = o.holder(user);
    if (node === undefined || node === o.node || typeof token !== 'string') return undefined;
    const timeoutMs = o.timeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const asked = await o.requests.ask(node, { user, token } satisfies TakeOver, timeoutMs);
    const answer = asked.ok && AnswerSchema.Check(asked.body) ? (asked.body as Answer) : undefined;
    if (answer !== undefined && 'refused' in answer)
      return hotlineError('HOT_ERR_REGISTRATION_NOT_RELEASED', node, `refused with ${answer.refused}`);
    // Whatever came back (or nothing, from a node that is going away): the name must be free here.
    for (;;) {
      const now = o.holder(user);
      if (now === undefined || now === o.node) return undefined;
      if (Date.now() >= deadline)
        return hotlineError('HOT_ERR_REGISTRATION_NOT_RELEASED', now, `still held after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 20));
    }
  }

  /** Answer other nodes' requests: `replaceHolder` closes this node's holder of a user (the gateway's). */
  serve(replaceHolder: (user: string) => Promise<boolean>): () => void {
    return this.o.requests.answer(async (body): Promise<Answer> => {
      if (!TakeOver.Check(body)) return this.#refuse('HOT_ERR_SCHEMA');
      const { user, token } = body as TakeOver;
      const verified = await this.o.auth.verify(token, user);
      if (!verified.ok) return this.#refuse(verified.error.code);
      return { released: await replaceHolder(verified.user) };
    });
  }

  #refuse(code: string): Answer {
    this.o.refused(code);
    return { refused: code };
  }
}
