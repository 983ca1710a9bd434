/**
 * The release half of the admin surface: upload (unpack), list, preflight alone, install (or
 * its plan and preflight alone, `dryRun: true`), follow an install
 * (JSON or a server-sent event stream), promote, roll back, make permanent, remove. Every
 * route sits behind the admin token the surface already checks. Upload, make permanent and
 * remove answer once the release history records the change on disk (or with
 * HOT_ERR_HISTORY_WRITE when it cannot be written).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { hotlineError } from '../errors/catalogue.ts';
import type { ReleaseHandler } from '../release/handler.ts';
import { httpStatus } from './errors.ts';
import { openEventStream } from './event-stream.ts';

const VersionParams = Type.Object({ version: Type.String({ maxLength: 80 }) });
const InstallBody = Type.Object(
  {
    mode: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('canary')])),
    canaryFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    watchMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    maxCrashes: Type.Optional(Type.Integer({ minimum: 0 })),
    maxErrors: Type.Optional(Type.Integer({ minimum: 0 })),
    maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Answer the install's plan and its preflight, and change nothing. */
    dryRun: Type.Optional(Type.Boolean()),
    /** Install a release marked by the watchdog anyway. */
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Artifacts are a few hundred KB at most; leave room. */
const MAX_ARTIFACT_BYTES = 16 * 1024 * 1024;
/** How often a follower of an install hears its progress. */
const EVENT_EVERY_MS = 200;

export function releaseRoutes(app: FastifyInstance, releases: ReleaseHandler): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/admin/releases', { bodyLimit: MAX_ARTIFACT_BYTES }, async (req, reply) => {
    const manifest = await releases.unpack(req.body);
    return reply.status(201).send({ manifest });
  });
  app.get('/admin/releases', async () => releases.list());
  typed.delete('/admin/releases/:version', { schema: { params: VersionParams } }, async (req, reply) => {
    await releases.remove(req.params.version);
    return reply.status(204).send();
  });
  typed.post(
    '/admin/releases/:version/install',
    { schema: { params: VersionParams, body: Type.Optional(InstallBody) } },
    async (req, reply) => {
      const { dryRun, force, ...options } = req.body ?? {};
      if (dryRun === true) return releases.dryRun(req.params.version, options);
      const install = await releases.install(
        req.params.version,
        force === undefined ? options : { ...options, force },
      );
      return reply.status(202).send({ install: install.progress });
    },
  );
  // The preflight alone, for a cluster rollout that asks every node before any moves.
  typed.post(
    '/admin/releases/:version/preflight',
    { schema: { params: VersionParams } },
    async (req, reply) => {
      const preflight = await releases.preflight(req.params.version);
      if (preflight.failed === 0) return { preflight };
      const err = hotlineError('HOT_ERR_PREFLIGHT_FAILED', preflight.version, preflight.failed);
      return reply.status(httpStatus[err.code]).send({ code: err.code, message: err.message, preflight });
    },
  );
  typed.post('/admin/releases/:version/permanent', { schema: { params: VersionParams } }, async (req) => {
    await releases.makePermanent(req.params.version);
    return releases.list();
  });

  app.get('/admin/install', async () => {
    const progress = releases.progress;
    if (progress === null) throw hotlineError('HOT_ERR_NOT_FOUND', 'install');
    return { install: progress };
  });
  app.post('/admin/install/promote', async () => {
    await releases.promote();
    return { install: releases.progress };
  });
  app.post('/admin/install/rollback', async () => {
    await releases.rollback();
    return { install: releases.progress };
  });

  // Server-sent events: the running install's progress until it ends (then one last event).
  app.get('/admin/install/events', (_req, reply) => {
    const stream = openEventStream(reply, () => clearInterval(timer));
    const tick = () => {
      stream.send({ install: releases.progress });
      if (releases.running === null) {
        clearInterval(timer);
        stream.end();
      }
    };
    const timer = setInterval(tick, EVENT_EVERY_MS);
    tick();
  });
}
