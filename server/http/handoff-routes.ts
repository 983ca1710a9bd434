/**
 * `POST /admin/node/handoff`: hand the node to a successor process started from `entry` with
 * `nodeBinary` (defaults: this node's). Answers when the handoff ends: the summary, or
 * HOT_ERR_HANDOFF_RUNNING (409), HOT_ERR_HANDOFF_INCOMPATIBLE (409) or HOT_ERR_HANDOFF_FAILED
 * (the node carried on with everything it had). The answer comes from the old process, which
 * exits once it is sent; the admin surface is the successor's from then on.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { HandoffRequest, HandoffSummary } from '../handoff/handoff.ts';

const HandoffBody = Type.Object(
  {
    entry: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    nodeBinary: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  { additionalProperties: false },
);

export function handoffRoutes(
  app: FastifyInstance,
  handoff: (r: HandoffRequest) => Promise<HandoffSummary>,
): void {
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .post('/admin/node/handoff', { schema: { body: Type.Optional(HandoffBody) } }, async (req, reply) => {
      const summary = await handoff(req.body ?? {});
      // This process no longer serves: a client must not send its next request on this
      // connection, which only the departing process holds.
      reply.header('connection', 'close');
      return { handoff: summary };
    });
}
