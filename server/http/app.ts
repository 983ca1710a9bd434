/**
 * The two HTTP surfaces, built but not listening: the public one (phones, health, metrics)
 * and the admin one (loopback by default; auth.ts guards it).
 */

import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import Type from 'typebox';
import { hotlineError } from '../errors/catalogue.ts';
import { listProcesses, type Runtime, supervisionTree } from '../runtime/index.ts';
import { type ConnectionLimits, serverTimeouts } from './connection-guard.ts';
import { installErrorHandler } from './errors.ts';
import { answerExpectContinue } from './expect-continue.ts';
import type { TlsPair } from './tls.ts';

export interface AppOptions {
  logger: boolean | { level: string };
  /** Use this logger instead (shared with the other surface). */
  loggerInstance?: FastifyBaseLogger;
  /** Node's request, headers and keep-alive timeouts come from these (Node's defaults without). */
  connections?: ConnectionLimits;
  /** Serve HTTPS (and wss://) with this certificate; plain HTTP without. */
  https?: TlsPair;
}

export function createFastify(options: AppOptions): FastifyInstance {
  // Thousands of phones and a scrape a second: per-request logs would drown everything else.
  const logController = new LogController({ disableRequestLogging: true });
  // Fastify's ajv strips unknown properties by default; the schemas say additionalProperties:
  // false, so an unknown query parameter must be refused (400), not silently dropped.
  const ajv = { customOptions: { removeAdditional: false } } as const;
  const common = {
    logController,
    ajv,
    ...(options.connections && serverTimeouts(options.connections)),
    ...(options.https && { https: options.https }),
  };
  // With `https`, fastify's server is an https.Server: a net.Server and an http.Server as
  // far as everything here uses it (routes, upgrades, listen, close), so it is typed as one.
  const app = (
    options.loggerInstance
      ? Fastify({ loggerInstance: options.loggerInstance, ...common })
      : Fastify({ logger: options.logger, ...common })
  ) as FastifyInstance;
  installErrorHandler(app);
  answerExpectContinue(app);
  return app;
}

export interface PublicRoutes {
  ready(): boolean;
  node: string;
  metrics(): Promise<{ contentType: string; body: string }>;
  protocolSchema(): unknown;
}

export function publicRoutes(app: FastifyInstance, r: PublicRoutes): void {
  const started = Date.now();
  app.get('/healthz', async () => ({
    status: 'ok',
    node: r.node,
    uptimeSeconds: (Date.now() - started) / 1000,
  }));
  app.get('/readyz', async (_req, reply) => {
    const ready = r.ready();
    return reply.status(ready ? 200 : 503).send({ ready, node: r.node });
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await r.metrics();
    return reply.type(contentType).send(body);
  });
  app.get('/protocol.schema.json', async () => r.protocolSchema());
}

/** CDRs as the admin surface serves them. */
export interface CdrSource {
  page(query: CdrQueryString): Promise<{ cdrs: unknown[]; next: string | null }>;
  /** The export's lines (CSV: the header first), streamed as they are read. */
  exportLines(range: { since?: number; until?: number }, format: 'ndjson' | 'csv'): AsyncIterable<string>;
}

export interface AdminRoutes {
  rt: Runtime;
  cdrs: CdrSource;
  /** This node and the other live nodes of its cluster (where they listen), or null when alone. */
  cluster(): unknown;
}

export const CdrQueryString = Type.Object(
  {
    user: Type.Optional(Type.String({ maxLength: 64, description: 'caller or callee' })),
    caller: Type.Optional(Type.String({ maxLength: 64 })),
    callee: Type.Optional(Type.String({ maxLength: 64 })),
    cause: Type.Optional(Type.String({ maxLength: 32 })),
    callId: Type.Optional(Type.String({ maxLength: 64 })),
    since: Type.Optional(Type.Integer({ minimum: 0, description: 'ended at or after, epoch ms' })),
    until: Type.Optional(Type.Integer({ minimum: 0, description: 'ended at or before, epoch ms' })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
    order: Type.Optional(Type.Union([Type.Literal('newest'), Type.Literal('oldest')])),
    cursor: Type.Optional(Type.String({ maxLength: 128, description: '`next` of the previous page' })),
  },
  { additionalProperties: false },
);
export type CdrQueryString = Type.Static<typeof CdrQueryString>;

const CdrExportQuery = Type.Object(
  {
    from: Type.Optional(Type.Integer({ minimum: 0, description: 'ended at or after, epoch ms' })),
    to: Type.Optional(Type.Integer({ minimum: 0, description: 'ended at or before, epoch ms' })),
    format: Type.Union([Type.Literal('ndjson'), Type.Literal('csv')], { default: 'ndjson' }),
  },
  { additionalProperties: false },
);

const ProcessQuery = Type.Object(
  {
    module: Type.Optional(Type.String()),
    limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
  },
  { additionalProperties: false },
);
const TreeQuery = Type.Object(
  { maxChildren: Type.Integer({ minimum: 0, maximum: 10_000, default: 50 }) },
  { additionalProperties: false },
);

export function adminRoutes(app: FastifyInstance, r: AdminRoutes): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  // `/cdrs` is where CDRs were first served; both answer alike.
  for (const path of ['/cdrs', '/admin/cdrs']) {
    typed.get(path, { schema: { querystring: CdrQueryString } }, async (req) => r.cdrs.page(req.query));
  }
  typed.get('/admin/cdrs/export', { schema: { querystring: CdrExportQuery } }, async (req, reply) => {
    const { from, to, format } = req.query;
    if (from !== undefined && to !== undefined && from > to)
      throw hotlineError('HOT_ERR_BAD_TIME_RANGE', from, to);
    const range = {
      ...(from === undefined ? {} : { since: from }),
      ...(to === undefined ? {} : { until: to }),
    };
    return reply
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="cdrs-${from ?? 0}-${to ?? 'now'}.${format}"`)
      .send(Readable.from(r.cdrs.exportLines(range, format)));
  });
  typed.get('/admin/processes', { schema: { querystring: ProcessQuery } }, async (req) => {
    const list = listProcesses(
      r.rt,
      req.query.module === undefined ? undefined : (p) => p.module === req.query.module,
    );
    return { count: list.length, processes: list.slice(0, req.query.limit) };
  });
  typed.get('/admin/tree', { schema: { querystring: TreeQuery } }, async (req) => ({
    tree: supervisionTree(r.rt, { maxChildren: req.query.maxChildren }),
  }));
  app.get('/admin/modules', async () => ({ modules: r.rt.modules.versions() }));
  app.get('/admin/cluster', async () => ({ node: r.rt.node, cluster: r.cluster() }));
  // Memory as the process sees it; after a full GC when node runs with --expose-gc.
  app.get('/admin/memory', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    return {
      collected: gc !== undefined,
      processes: r.rt.processCount,
      ...process.memoryUsage(),
      cpu: process.cpuUsage(),
    };
  });
}
