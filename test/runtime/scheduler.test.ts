/** Fair scheduling, slices that yield to I/O, and rt.idle(). */
import { once } from 'node:events';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  type Behaviour,
  listProcesses,
  MESSAGES_PER_TURN,
  noreply,
  type Pid,
  type Runtime,
} from '../../server/runtime/index.ts';
import { deferred, newRuntime, settleBriefly } from '../support/runtime.ts';

/** Counts the casts it handles into `counts` (outside the state, so the state stays tiny). */
function counter(counts: Map<Pid, number>, onCast?: (self: Pid) => void): Behaviour<Record<string, never>> {
  return {
    name: 'counter',
    version: '1.0.0',
    init: () => ({}),
    handleCast(_m, state, ctx) {
      counts.set(ctx.self, (counts.get(ctx.self) ?? 0) + 1);
      onCast?.(ctx.self);
      return noreply(state);
    },
  };
}

function flood(rt: Runtime, pid: Pid, n: number): void {
  for (let i = 0; i < n; i++) rt.cast(pid, i);
}

describe('fairness', () => {
  it('handles the single message of one process long before a flood of 100,000 to another drains', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    let floodDoneWhenQuietRan = -1;
    let flooded: Pid | undefined;
    const quietB = counter(counts, () => {
      floodDoneWhenQuietRan = counts.get(flooded as Pid) ?? 0;
    });
    flooded = rt.spawn(counter(counts));
    const quiet = rt.spawn({ ...quietB, name: 'quiet' });
    const n = 100_000;
    flood(rt, flooded, n);
    rt.cast(quiet, 'hello');
    await settleBriefly(rt);
    expect(counts.get(flooded)).toBe(n);
    expect(counts.get(quiet)).toBe(1);
    // Round robin: the flooded process gets one turn (its message budget), then the quiet one is next.
    expect(floodDoneWhenQuietRan).toBeGreaterThanOrEqual(0);
    expect(floodDoneWhenQuietRan).toBeLessThanOrEqual(2 * MESSAGES_PER_TURN);
  });

  it('serves a message that arrives in the middle of a flood within a couple of turns', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    const flooded = rt.spawn(counter(counts));
    let handledAtArrival = -1;
    let handledWhenServed = -1;
    const quiet = rt.spawn(
      counter(counts, () => {
        handledWhenServed = counts.get(flooded) ?? 0;
      }),
    );
    const n = 100_000;
    flood(rt, flooded, n);
    // Between two slices, once the flood is under way.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    handledAtArrival = counts.get(flooded) ?? 0;
    rt.cast(quiet, 'late');
    await settleBriefly(rt);
    expect(handledAtArrival).toBeGreaterThan(0);
    expect(handledAtArrival).toBeLessThan(n);
    expect(handledWhenServed - handledAtArrival).toBeGreaterThanOrEqual(0);
    expect(handledWhenServed - handledAtArrival).toBeLessThanOrEqual(2 * MESSAGES_PER_TURN);
    expect(counts.get(flooded)).toBe(n);
  });

  it('takes flooded processes in turn, one message budget each', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    const pids: Pid[] = [];
    let maxSpread = 0;
    const b = counter(counts, () => {
      const handled = pids.map((p) => counts.get(p) ?? 0);
      maxSpread = Math.max(maxSpread, Math.max(...handled) - Math.min(...handled));
    });
    for (let i = 0; i < 4; i++) pids.push(rt.spawn(b));
    const n = 5_000;
    for (let i = 0; i < n; i++) for (const p of pids) rt.cast(p, i);
    await settleBriefly(rt);
    expect(pids.map((p) => counts.get(p))).toEqual([n, n, n, n]);
    expect(maxSpread).toBeGreaterThan(0);
    expect(maxSpread).toBeLessThanOrEqual(MESSAGES_PER_TURN);
  });

  it('does not let a process that keeps messaging itself starve the others', async () => {
    const rt = newRuntime();
    let spins = 0;
    const spinner = rt.spawn({
      name: 'spinner',
      version: '1.0.0',
      init: () => ({}),
      handleInfo(_m, state, ctx) {
        spins++;
        if (spins < 50_000) ctx.send(ctx.self, 'again');
        return noreply(state);
      },
    });
    const counts = new Map<Pid, number>();
    let spinsWhenServed = -1;
    const quiet = rt.spawn(
      counter(counts, () => {
        spinsWhenServed = spins;
      }),
    );
    rt.send(spinner, 'go');
    await new Promise((r) => setImmediate(r));
    const spinsAtArrival = spins;
    rt.cast(quiet, 'hello');
    await settleBriefly(rt);
    expect(spins).toBe(50_000);
    expect(spinsAtArrival).toBeLessThan(50_000);
    expect(spinsWhenServed - spinsAtArrival).toBeLessThanOrEqual(2 * MESSAGES_PER_TURN);
  });
});

describe('slices yield to I/O', () => {
  const total = 100_000;

  it('runs a setImmediate callback before a burst of messages finishes', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    const pid = rt.spawn(counter(counts));
    flood(rt, pid, total);
    const atImmediate = await new Promise<number>((resolve) =>
      setImmediate(() => resolve(counts.get(pid) ?? 0)),
    );
    await settleBriefly(rt);
    expect(counts.get(pid)).toBe(total);
    expect(atImmediate).toBeLessThan(total);
  });

  it('runs a setTimeout(0) set during a burst before the burst finishes', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    let timerSet = -1;
    const atTimer = new Promise<number>((resolve) => {
      const pid = rt.spawn(
        counter(counts, (self) => {
          // Set from inside the first message, so it is armed while the burst is under way.
          if (timerSet >= 0) return;
          timerSet = counts.get(self) ?? 0;
          setTimeout(() => resolve(counts.get(self) ?? 0), 0);
        }),
      );
      flood(rt, pid, total);
    });
    const handledAtTimer = await atTimer;
    await settleBriefly(rt);
    expect(timerSet).toBe(1);
    expect([...counts.values()]).toEqual([total]);
    expect(handledAtTimer).toBeGreaterThan(timerSet);
    expect(handledAtTimer).toBeLessThan(total);
  });

  it('answers a loopback TCP request while a burst is being processed', async () => {
    const server = createServer((socket) => {
      socket.on('data', (data) => socket.write(data));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    try {
      await once(client, 'connect');
      const rt = newRuntime();
      const counts = new Map<Pid, number>();
      const pids = [rt.spawn(counter(counts)), rt.spawn(counter(counts))];
      for (const pid of pids) flood(rt, pid, total);
      const handled = () => pids.reduce((sum, p) => sum + (counts.get(p) ?? 0), 0);
      const echoed = once(client, 'data');
      client.write('ping');
      const [data] = (await echoed) as [Buffer];
      const atEcho = handled();
      await settleBriefly(rt);
      expect(data.toString()).toBe('ping');
      expect(handled()).toBe(2 * total);
      expect(atEcho).toBeLessThan(2 * total);
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('serves a loopback HTTP request while a burst is being processed', async () => {
    const server = createHttpServer((_req, res) => res.end('pong'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const rt = newRuntime();
      const counts = new Map<Pid, number>();
      const pid = rt.spawn(counter(counts));
      // Many slices' worth: each message also runs the state check.
      flood(rt, pid, 2 * total);
      const port = (server.address() as AddressInfo).port;
      const { body, atResponse } = await new Promise<{ body: string; atResponse: number }>(
        (resolve, reject) => {
          httpGet({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ body, atResponse: counts.get(pid) ?? 0 }));
          }).on('error', reject);
        },
      );
      await settleBriefly(rt);
      expect(body).toBe('pong');
      expect(counts.get(pid)).toBe(2 * total);
      expect(atResponse).toBeLessThan(2 * total);
    } finally {
      server.close();
    }
  });

  it('yields after every few turns with a zero slice budget, and still handles everything in order', async () => {
    const rt = newRuntime({ sliceMs: 0 });
    const got: number[] = [];
    const pid = rt.spawn({
      name: 'orderly',
      version: '1.0.0',
      init: () => ({}),
      handleCast(m: unknown, state: Record<string, never>) {
        got.push(m as number);
        return noreply(state);
      },
    });
    flood(rt, pid, 1000);
    const atImmediate = await new Promise<number>((resolve) => setImmediate(() => resolve(got.length)));
    await settleBriefly(rt);
    expect(atImmediate).toBeGreaterThan(0);
    expect(atImmediate).toBeLessThan(1000);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(rt.scheduler.slices).toBeGreaterThan(1);
  });
});

describe('rt.idle()', () => {
  it('resolves at once when nothing is runnable', async () => {
    const rt = newRuntime();
    let resolved = false;
    void rt.idle().then(() => {
      resolved = true;
    });
    await Promise.resolve();
    expect(resolved).toBe(true);
  });

  it('resolves once every queued message has been handled, for every waiter', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    const pids = [rt.spawn(counter(counts)), rt.spawn(counter(counts)), rt.spawn(counter(counts))];
    for (const p of pids) flood(rt, p, 10_000);
    expect(rt.scheduler.runnable).toBe(3);
    const seenAtIdle: number[][] = [];
    await Promise.all(
      [rt.idle(), rt.idle()].map((w) => w.then(() => seenAtIdle.push(pids.map((p) => counts.get(p) ?? 0)))),
    );
    expect(seenAtIdle).toEqual([
      [10_000, 10_000, 10_000],
      [10_000, 10_000, 10_000],
    ]);
    expect(rt.scheduler.runnable).toBe(0);
    expect(listProcesses(rt).every((p) => p.mailbox === 0 && p.status === 'waiting')).toBe(true);
  });

  it('includes messages that handlers send while the queue drains', async () => {
    const rt = newRuntime();
    let hops = 0;
    const relay: Behaviour<Record<string, never>> = {
      name: 'relay',
      version: '1.0.0',
      init: () => ({}),
      handleCast(m, state, ctx) {
        hops++;
        const { left, to } = m as { left: number; to: Pid };
        if (left > 0) ctx.cast(to, { left: left - 1, to: ctx.self });
        return noreply(state);
      },
    };
    const a = rt.spawn(relay);
    const b = rt.spawn(relay);
    rt.cast(a, { left: 999, to: b });
    await rt.idle();
    expect(hops).toBe(1000);
  });

  it('does not wait for an async callback in flight', async () => {
    const rt = newRuntime();
    const gate = deferred();
    const pid = rt.spawn({
      name: 'slow',
      version: '1.0.0',
      init: () => ({}),
      async handleCast(_m: unknown, state: Record<string, never>) {
        await gate.promise;
        return noreply(state);
      },
    });
    rt.cast(pid, 'go');
    await rt.idle();
    expect(listProcesses(rt)[0]?.status).toBe('running');
    gate.resolve();
    await settleBriefly(rt);
    expect(listProcesses(rt)[0]?.status).toBe('waiting');
  });
});

describe('behind', () => {
  it('is true after a slice that ran out of time with processes still runnable, false once it drains', async () => {
    const rt = newRuntime();
    const counts = new Map<Pid, number>();
    const pids = Array.from({ length: 50 }, () => rt.spawn(counter(counts)));
    expect(rt.scheduler.behind).toBe(false);
    for (const pid of pids) flood(rt, pid, 20_000);
    // One turn of the event loop: the first slice runs out of its time long before a million messages.
    await new Promise((resolve) => setImmediate(resolve));
    expect(rt.scheduler.behind).toBe(true);
    await settleBriefly(rt);
    expect(rt.scheduler.behind).toBe(false);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(1_000_000);
  });
});
