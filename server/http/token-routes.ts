/**
 * Admin tokens through the admin API: who am I, list, create (the answer carries the secret,
 * the one time it is ever shown), revoke (which also ends the observer sessions it signed in).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { SCOPES } from './admin-tokens.ts';
import type { AdminAuth } from './auth.ts';

const TokenName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });
const CreateToken = Type.Object(
  { name: TokenName, scope: Type.Union(SCOPES.map((s) => Type.Literal(s))) },
  { additionalProperties: false },
);
const NameParams = Type.Object({ name: TokenName });

export function tokenRoutes(app: FastifyInstance, auth: AdminAuth): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/admin/whoami', async (req) => req.adminHolder);
  app.get('/admin/tokens', async () => ({ tokens: auth.tokens.list() }));
  typed.post('/admin/tokens', { schema: { body: CreateToken } }, async (req, reply) => {
    const { name, scope } = req.body;
    const token = auth.tokens.create(name, scope);
    return reply.status(201).header('cache-control', 'no-store').send({ name, scope, token });
  });
  typed.delete('/admin/tokens/:name', { schema: { params: NameParams } }, async (req, reply) => {
    auth.tokens.revoke(req.params.name);
    auth.sessions.revokeHolder(req.params.name);
    return reply.status(204).send();
  });
}
