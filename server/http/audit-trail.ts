/**
 * The admin surface's audit trail: one hook records every answer of a route that needs the
 * `operate` scope (admin-scopes.ts), and every sign-in to the observer, accepted or refused, in
 * the audit log before the answer is sent; and `GET /admin/audit` pages through it, newest first. What is recorded of a request is
 * its route parameters plus the few body fields named below: never a token, a secret or a
 * release's code.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { requiredScope } from './admin-scopes.ts';
import type { AuditEntry, AuditLog } from './audit-log.ts';

/** Keeps only `keys` whose values are plain numbers, booleans or short strings. */
function pick(from: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof from !== 'object' || from === null) return {};
  const picked: Record<string, unknown> = {};
  for (const key of keys) {
    const value = (from as Record<string, unknown>)[key];
    if (typeof value === 'number' || typeof value === 'boolean') picked[key] = value;
    else if (typeof value === 'string') picked[key] = value.slice(0, 100);
  }
  return picked;
}

/** Routes open to anyone that are recorded all the same: who signed in to the observer, or tried. */
const AUDITED_PUBLIC: ReadonlySet<string> = new Set(['POST /observer/session']);

/** The body fields worth recording, per route; every other body is left out. */
const BODY_FIELDS: Readonly<Record<string, (body: unknown) => Record<string, unknown>>> = {
  'POST /admin/releases': (body) =>
    pick(typeof body === 'object' && body !== null ? (body as { manifest?: unknown }).manifest : undefined, [
      'name',
      'version',
    ]),
  'POST /admin/releases/:version/install': (body) =>
    pick(body, ['mode', 'canaryFraction', 'watchMs', 'maxCrashes', 'maxErrors', 'maxErrorRate', 'dryRun']),
  'POST /admin/tokens': (body) => pick(body, ['name', 'scope']),
};

function errorCode(payload: unknown): string | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function entryOf(request: FastifyRequest, route: string, status: number, payload: unknown): AuditEntry {
  const key = `${request.method} ${route}`;
  const params = { ...(request.params as Record<string, unknown>), ...BODY_FIELDS[key]?.(request.body) };
  const code = status >= 400 ? errorCode(payload) : undefined;
  return {
    time: new Date().toISOString(),
    token: request.adminHolder?.name ?? null,
    source: request.ip,
    method: request.method,
    route,
    params,
    status,
    ...(code === undefined ? {} : { code }),
  };
}

const AuditQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
    offset: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);

export function installAuditTrail(app: FastifyInstance, log: AuditLog): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url;
    if (route === undefined) return payload;
    const audited =
      request.routeOptions.config.public === true
        ? AUDITED_PUBLIC.has(`${request.method} ${route}`)
        : request.method !== 'GET' &&
          request.method !== 'HEAD' &&
          requiredScope(request.method, route) === 'operate';
    if (!audited) return payload;
    try {
      log.append(entryOf(request, route, reply.statusCode, payload));
    } catch (err) {
      // The change is made whatever the log says; an answer claiming otherwise would be a lie.
      request.log.error({ err }, 'audit log write failed');
    }
    return payload;
  });
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .get('/admin/audit', { schema: { querystring: AuditQuery } }, async (req) =>
      log.read(req.query.limit, req.query.offset),
    );
}
