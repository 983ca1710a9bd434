/** A NATS server (JetStream, loopback, free port) for the cluster tests: started once per file. */
import { afterAll, beforeAll } from 'vitest';
import { type NatsServer, startNatsServer } from '../../server/dev/nats-server.ts';
import type { TestNode } from './test-node.ts';
import { waitFor } from './wait.ts';

/** The server of this test file; fails the file (never skips it) when nats-server is missing. */
export function useNatsServer(): () => NatsServer {
  let server: NatsServer | undefined;
  beforeAll(async () => {
    try {
      server = await startNatsServer();
    } catch (err) {
      throw new Error(
        `the cluster tests need Debian's nats-server on PATH (apt-get install -y nats-server; npm test installs it as root): ${String(err)}`,
      );
    }
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('the NATS server did not start');
    return server;
  };
}

/** Wait until every one of `nodes` sees every other as up. */
export const seeEachOther = (nodes: TestNode[]): Promise<unknown> =>
  waitFor('the nodes see each other', () =>
    nodes.every((n) => nodes.every((m) => m === n || n.cluster?.membership.isUp(m.settings.node))),
  );
