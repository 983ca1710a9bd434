/** Server-sent events: the response is taken over from fastify and written to as things happen. */
import type { FastifyReply } from 'fastify';

/** A reader that stops reading is cut off rather than buffered for without end. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export interface EventStream {
  /** One event: `data` as JSON, under `event` when given (EventSource's 'message' otherwise). */
  send(data: unknown, event?: string): void;
  end(): void;
}

/** `closed` runs once, when the stream ends for whatever reason (either side). */
export function openEventStream(reply: FastifyReply, closed: () => void): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.once('close', closed);
  return {
    send(data, event) {
      if (res.writableEnded) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        return;
      }
      res.write(`${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`);
    },
    end: () => res.end(),
  };
}
