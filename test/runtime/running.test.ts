/**
 * The runtime's shared record of the callback running now (running.ts), read as another
 * thread would read it: from the callback itself, while it runs, and after.
 */
import { describe, expect, it } from 'vitest';
import {
  type Behaviour,
  noreply,
  type RunningCallback,
  Runtime,
  readRunning,
} from '../../server/runtime/index.ts';

const reader: Behaviour<null, null, { call: never; reply: never; cast: unknown; info: unknown }> = {
  name: 'reader',
  version: '3.1.4',
  init: () => null,
  handleCast: (_m, s) => noreply(s),
  handleInfo: (_m, s) => noreply(s),
};

describe('the running record', () => {
  it('names the pid, behaviour, version, kind and message type while a callback runs', async () => {
    const rt = new Runtime({ node: 'rec' });
    const seen: RunningCallback[] = [];
    const pid = rt.spawn({
      ...reader,
      handleCast(_m, s) {
        seen.push(readRunning(rt.running));
        return noreply(s);
      },
    });
    rt.cast(pid, { type: 'dial', to: 'x' });
    rt.cast(pid, 'hangup');
    rt.cast(pid, 42);
    await rt.idle();
    expect(seen).toEqual([
      { inCallback: true, pid, behaviour: 'reader', version: '3.1.4', kind: 'cast', message: 'dial' },
      { inCallback: true, pid, behaviour: 'reader', version: '3.1.4', kind: 'cast', message: 'hangup' },
      { inCallback: true, pid, behaviour: 'reader', version: '3.1.4', kind: 'cast', message: '' },
    ]);
    // Between callbacks: the last one's names, and no callback running.
    expect(readRunning(rt.running)).toMatchObject({ inCallback: false, pid, behaviour: 'reader' });
  });

  it('a message whose type getter throws is named without one, and the process handles it', async () => {
    const rt = new Runtime({ node: 'rec' });
    let handled = 0;
    const pid = rt.spawn({
      ...reader,
      handleInfo(_m, s) {
        handled++;
        expect(readRunning(rt.running)).toMatchObject({ kind: 'info', message: '' });
        return noreply(s);
      },
    });
    rt.send(pid, {
      get type(): string {
        throw new Error('hostile');
      },
    });
    await rt.idle();
    expect(handled).toBe(1);
    expect(rt.isAlive(pid)).toBe(true);
  });

  it('endless distinct message types fill only their part of the table: a behaviour loaded later is still named', async () => {
    const rt = new Runtime({ node: 'rec' });
    const pid = rt.spawn(reader);
    for (let i = 0; i < 2000; i++) rt.send(pid, `message-${i}-${'x'.repeat(40)}`);
    await rt.idle();
    const seen: RunningCallback[] = [];
    const late = rt.spawn({
      ...reader,
      name: 'loaded_later',
      version: '2.7.1',
      handleCast(_m, s) {
        seen.push(readRunning(rt.running));
        return noreply(s);
      },
    });
    rt.cast(late, { type: `message-0-${'x'.repeat(40)}` });
    rt.cast(late, { type: 'never-seen-before' });
    await rt.idle();
    expect(seen[0]).toMatchObject({
      behaviour: 'loaded_later',
      version: '2.7.1',
      message: `message-0-${'x'.repeat(40)}`,
    });
    expect(seen[1]).toMatchObject({ behaviour: 'loaded_later', version: '2.7.1', message: '' });
  });
});
