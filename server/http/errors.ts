/** One error shape for every HTTP answer: `{ code, message }` with the catalogue's status. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { HotlineError } from '../errors/catalogue.ts';

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HotlineError, request, reply) => {
    if (error instanceof HotlineError) {
      if (error.code === 'HOT_ERR_UPGRADE_REQUIRED') reply.header('upgrade', 'websocket');
      return reply.status(error.statusCode).send({ code: error.code, message: error.message });
    }
    if ((error as FastifyError).validation) {
      return reply.status(400).send({ code: 'HOT_ERR_BAD_REQUEST', message: error.message });
    }
    request.log.error({ err: error }, 'unhandled error');
    const status = (error as FastifyError).statusCode ?? 500;
    return reply
      .status(status)
      .send({ code: status >= 500 ? 'HOT_ERR_INTERNAL' : 'HOT_ERR_BAD_REQUEST', message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ code: 'HOT_ERR_NOT_FOUND', message: `${request.method} ${request.url} not found` }),
  );
}
