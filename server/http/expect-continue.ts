/**
 * `Expect: 100-continue` answered once the route is known. Node answers it itself by default,
 * before routing: an upload over its route's body limit was told 100 Continue, sent its body
 * and was cut off. Here it gets 413 without a byte of body read, and the connection closes
 * rather than drain the body it would have sent.
 */
import type { FastifyInstance } from 'fastify';

export function answerExpectContinue(app: FastifyInstance): void {
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (request, reply, payload) => {
    if (!/100-continue/i.test(request.headers.expect ?? '')) return payload;
    // Fastify refuses a declared length over the limit with 413 before it reads the body.
    if (Number(request.headers['content-length']) > request.routeOptions.bodyLimit)
      reply.header('connection', 'close');
    else reply.raw.writeContinue();
    return payload;
  });
}
