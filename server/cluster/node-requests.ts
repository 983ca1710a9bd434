/**
 * Requests from one node to another named node, on one topic, answered by a handler that
 * node gives (not a process: what a front door asks of another node's front door). Generic:
 * the topic and its JSON bodies are the caller's. NATS is shared, so what a handler is given
 * is hostile input: it gets the parsed JSON (undefined when the bytes are not JSON) and must
 * check it; an answer is checked by the asker the same way.
 */
import type { NatsConnection } from 'nats';
import { decode, encode } from './wire.ts';

/** Answered by the live node of that name only (its own subscription). */
export const requestSubject = (node: string, topic: string): string =>
  `hotline.node.${node}.request.${topic}`;

const TOPIC = /^[a-z][a-z0-9-]{0,63}$/;

/** What came back: the answer's JSON (undefined when it was not JSON), or why nothing did. */
export type Answer = { ok: true; body: unknown } | { ok: false; why: 'no_responder' | 'timeout' | 'failed' };

export interface NodeRequests {
  /** Ask `node`; never throws. */
  ask(node: string, body: unknown, timeoutMs: number): Promise<Answer>;
  /** Answer this node's requests with `handle` (one handler per topic); returns the unsubscribe. */
  answer(handle: (body: unknown) => Promise<unknown>): () => void;
}

const parse = (data: Uint8Array): unknown => {
  try {
    return decode(data);
  } catch {
    return undefined;
  }
};

export function nodeRequests(nc: NatsConnection, self: string, topic: string): NodeRequests {
  if (!TOPIC.test(topic)) throw new Error(`request topic ${JSON.stringify(topic)}: use a-z 0-9 -`);
  return {
    async ask(node, body, timeoutMs) {
      try {
        const reply = await nc.request(requestSubject(node, topic), encode(body), { timeout: timeoutMs });
        return { ok: true, body: parse(reply.data) };
      } catch (err) {
        const code = (err as { code?: string }).code;
        return {
          ok: false,
          why: code === '503' ? 'no_responder' : code === 'TIMEOUT' ? 'timeout' : 'failed',
        };
      }
    },
    answer(handle) {
      const sub = nc.subscribe(requestSubject(self, topic), {
        callback: (_err, m) => {
          // A throw here would end nats.js's reader, and with it the node's NATS connection.
          void handle(parse(m.data)).then(
            (answer) => m.respond(encode(answer)),
            () => m.respond(encode(null)),
          );
        },
      });
      return () => sub.unsubscribe();
    },
  };
}
