/**
 * The listening sockets change hands with no connection refused or reset: A sends each
 * surface's net.Server handle; B listens on it (its copy of the same kernel socket); only then
 * does A close its copy. The kernel's socket, and the connections waiting in its accept
 * queue, stay open in B all along. A's keep-alive HTTP connections end as Node's close ends
 * them: idle ones at once, busy ones after their response.
 */
import type net from 'node:net';
import type { Handle, SuccessorChannel } from './channel.ts';
import type { Inbox } from './inbox.ts';
import type { Surface } from './protocol.ts';

/** How long B may take to listen on a handle. */
const LISTEN_TIMEOUT_MS = 10_000;

export type Listeners = Record<Surface, net.Server>;

/**
 * In A: hand each surface's listener over, then stop accepting here. Returns what takes them
 * back if the handoff fails later: A listens again on the same addresses (B's copies went
 * with B; connections tried in between are refused).
 */
export async function handListenersOver(
  channel: SuccessorChannel,
  inbox: Inbox,
  listeners: Listeners,
): Promise<() => Promise<void>> {
  const closed: { server: net.Server; address: net.AddressInfo }[] = [];
  for (const surface of ['public', 'admin'] as const) {
    const server = listeners[surface];
    await channel.send({ type: 'listener', surface }, server);
    await inbox.take('listening', LISTEN_TIMEOUT_MS, `the successor listens on the ${surface} surface`);
    closed.push({ server, address: server.address() as net.AddressInfo });
    server.close();
  }
  return async () => {
    for (const { server, address } of closed) {
      if (server.listening) continue;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: address.address, port: address.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  };
}

/**
 * In B: listen on a handle A sent. Called as the message arrives, in the same turn: the
 * handle Node made of it accepts nothing until it is ours.
 */
export function listenOn(server: net.Server, handle: Handle | undefined, done: () => void): void {
  if (handle === undefined) throw new Error('a listener message came without its handle');
  server.listen(handle, done);
}
