/**
 * What a node tells the keeper of its phones' sockets (`launch.copies`, server/handoff/
 * keeper-channel.ts): each new phone's socket once, each end of a phone's connection, and
 * after a failed handoff the phones it still has. The keeper's side: keeper.test.ts.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { StartSuccessor, SuccessorChannel } from '../../server/handoff/channel.ts';
import type { SocketCopies } from '../../server/handoff/keeper-channel.ts';
import { useTestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

function recorder() {
  const kept = new Map<number, net.Socket>();
  const events: string[] = [];
  const copies: SocketCopies = {
    keep(socket, handle) {
      kept.set(socket, handle);
      events.push(`keep ${socket}`);
    },
    drop: (socket) => events.push(`drop ${socket}`),
    only: (sockets) => events.push(`only ${[...sockets].join(',')}`),
  };
  return { copies, kept, events };
}

/** A successor that is gone as soon as it is started: the handoff fails before anything moves. */
const goneAtOnce: StartSuccessor = async () =>
  ({
    pid: 1,
    inherited: [],
    send: () => Promise.reject(new Error('gone')),
    onMessage: () => {},
    onGone: (listener) => listener('the successor exited at once'),
    kill: () => {},
  }) satisfies SuccessorChannel;

const spec = { nodeBinary: process.execPath, execArgv: [], entry: 'unused.js', args: [] };

describe("a node under the keeper tells it of its phones' sockets", () => {
  const start = useTestNode();

  it('keeps a copy of each new phone, drops it when its connection ends, names the phones it has after a failed handoff', async () => {
    const { copies, kept, events } = recorder();
    const node = await start({}, { launch: { spec, start: goneAtOnce, copies } });
    const alice = await node.phone('alice');
    const bob = await node.phone('bob');
    await waitFor('both kept', () => kept.size === 2, 5_000);
    const [first, second] = [...kept.keys()];
    expect(kept.get(first as number)).toBeInstanceOf(net.Socket);
    expect(events).toEqual([`keep ${first}`, `keep ${second}`]);

    alice.ws.close();
    await waitFor("alice's dropped", () => events.includes(`drop ${first}`), 5_000);

    await expect(node.handoff()).rejects.toMatchObject({ code: 'HOT_ERR_HANDOFF_FAILED' });
    expect(events.at(-1)).toBe(`only ${second}`);
    // The failed handoff took nothing: bob is still connected, and nothing was kept twice.
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);
    expect(node.gateway.connections).toBe(1);
    expect(events.filter((e) => e.startsWith('keep'))).toHaveLength(2);
  });
});
