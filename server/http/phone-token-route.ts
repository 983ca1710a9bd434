/**
 * `POST /admin/phone-tokens` `{ user, ttlMs? }` → `{ token, expiresAt }`: a phone token signed
 * with this node's phone key, for tools that reach the admin surface but not the data
 * directory (k6 scripts; an operator's own sign-in service would stand here in production).
 * Behind the admin token, like every admin route. The same as `hotline phone-token`.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { User } from '../calls/protocol/messages.ts';
import { issuePhoneToken } from './phone-tokens.ts';

const TokenBody = Type.Object(
  { user: User, ttlMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })) },
  { additionalProperties: false },
);

export function phoneTokenRoute(app: FastifyInstance, dataDir: string): void {
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .post('/admin/phone-tokens', { schema: { body: TokenBody } }, async (req) => {
      const ttlMs = req.body.ttlMs ?? 3_600_000;
      return { token: await issuePhoneToken(dataDir, req.body.user, ttlMs), expiresAt: Date.now() + ttlMs };
    });
}
