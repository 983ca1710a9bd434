/** The inbox (server/handoff/inbox.ts): a message its handler cannot take fails every wait, never the process. */
import { expect, it } from 'vitest';
import type { Handle, SuccessorChannel } from '../../server/handoff/channel.ts';
import { Inbox } from '../../server/handoff/inbox.ts';
import type { HandoffMessage } from '../../server/handoff/protocol.ts';

it('a message of the right type and the wrong shape fails the waits, and is not thrown in the listener', async () => {
  let deliver: (m: HandoffMessage, h: Handle | undefined) => void = () => {};
  const channel: Pick<SuccessorChannel, 'onMessage' | 'onGone'> = {
    onMessage: (listener) => {
      deliver = listener;
    },
    onGone: () => {},
  };
  const inbox = new Inbox(channel, {
    held: (m) => {
      for (const socket of m.sockets) expect(typeof socket).toBe('number');
    },
  });
  const waiting = inbox.take('ready', 10_000, 'the successor boots');
  deliver({ type: 'held', sockets: [1, 2] }, undefined);
  expect(inbox.gone).toBeUndefined();
  expect(() => deliver({ type: 'held', sockets: 3 } as unknown as HandoffMessage, undefined)).not.toThrow();
  await expect(waiting).rejects.toThrow(/a held message could not be handled/);
  expect(inbox.gone).toMatch(/held/);
});
