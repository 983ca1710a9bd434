/**
 * Two runtimes joined over a real NATS server: remote send, call and monitor; a node that
 * stops beating is declared down within the bound and its monitors fire with noconnection;
 * a node name can be held by one live node only; the user directory refuses a name held on
 * another node and forgets the names of a node gone, a starting node deletes its own
 * leftovers before it serves, and entries of a node nobody saw die are swept.
 */
import { connect, type KV } from 'nats';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { type Cluster, joinCluster } from '../../server/cluster/cluster.ts';
import { keyOf } from '../../server/cluster/directory.ts';
import { encode } from '../../server/cluster/wire.ts';
import { HotlineError } from '../../server/errors/catalogue.ts';
import { type Pid, Runtime } from '../../server/runtime/index.ts';
import { useNatsServer } from '../support/nats.ts';
import { type RecorderCall, recorder, settleBriefly } from '../support/runtime.ts';
import { sleep, TIMER_SLACK_MS, waitFor } from '../support/wait.ts';

const nats = useNatsServer();
type RecorderMessages = { call: RecorderCall; reply: unknown; cast: unknown; info: unknown };

const joined: Cluster[] = [];
afterEach(async () => {
  await Promise.all(joined.splice(0).map((c) => c.leave().catch(() => undefined)));
});

let bucketNo = 0;
const freshBucket = () => `test_users_${process.pid}_${++bucketNo}`;

/** Nodes on a directory of their own. */
const nodes = (...names: string[]) => nodesOn(freshBucket(), names);

async function nodesOn(bucket: string, names: string[]): Promise<{ rt: Runtime; cluster: Cluster }[]> {
  const out = [];
  for (const name of names) {
    const rt = new Runtime({ node: name, checkState: true });
    rt.modules.load(recorder);
    const cluster = await joinCluster({
      url: nats().url,
      rt,
      declared: () => ({ release: '1.0.0', talksTo: ['1.0.0'] }),
      where: () => ({}),
      covers: (n) => n.startsWith('user:'),
      bucket,
    });
    joined.push(cluster);
    out.push({ rt, cluster });
  }
  return out;
}

/** The directory's bucket as any NATS client sees it, closed after the test. */
async function rawBucket(bucket: string): Promise<KV> {
  const nc = await connect({ servers: nats().url });
  onTestFinished(() => nc.close());
  return nc.jetstream().views.kv(bucket, { history: 1 });
}

/** An entry as a node writes it: the name and the pid that holds it (the pid names the node). */
const putEntry = (kv: KV, name: string, pid: string) => kv.put(keyOf(name), encode({ name, pid }));
const held = async (kv: KV, name: string): Promise<boolean> =>
  (await kv.get(keyOf(name)))?.operation === 'PUT';

describe('runtimes over NATS', () => {
  it('send, call and monitor a process on the other node', async () => {
    const [a, b] = await nodes('ra', 'rb');
    if (a === undefined || b === undefined) throw new Error('two nodes');
    const target = b.rt.spawn('recorder', undefined);
    for (let i = 0; i < 20; i++) a.rt.send(target, { n: i });
    expect(await a.rt.call<RecorderMessages>(target, { type: 'echo', value: 'hello' })).toBe('hello');
    expect(await a.rt.call<RecorderMessages>(target, { type: 'seen' })).toEqual(
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    await expect(a.rt.call('<999@rb>', { type: 'seen' })).rejects.toSatisfy((e) =>
      HotlineError.is(e, 'HOT_ERR_NOPROC'),
    );
    const watcher = a.rt.spawn('recorder', undefined);
    const ref = a.rt.monitor(watcher, target);
    await waitFor('the monitor placed', () => b.rt.lookup(target)?.watchers?.size === 1);
    b.rt.exit(target, { type: 'shutdown', detail: 'bye' });
    await waitFor('the DOWN', async () => {
      await settleBriefly(a.rt);
      const seen = await a.rt.call<RecorderMessages>(watcher, { type: 'seen' });
      return (seen as unknown[]).length > 0 ? seen : undefined;
    });
    expect(await a.rt.call<RecorderMessages>(watcher, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref, pid: target, reason: { type: 'shutdown', detail: 'bye' } },
    ]);
  });

  it('a node that stops beating is down within the bound: monitors fire with noconnection', async () => {
    const [a, b] = await nodes('da', 'db');
    if (a === undefined || b === undefined) throw new Error('two nodes');
    await waitFor('a sees b', () => a.cluster.membership.isUp('db'));
    const target = b.rt.spawn('recorder', undefined);
    const watcher = a.rt.spawn('recorder', undefined);
    a.rt.monitor(watcher, target);
    await waitFor('the monitor placed', () => b.rt.lookup(target)?.watchers?.size === 1);
    // Silence without a goodbye, as kill -9 leaves it: no more beats, no leave message.
    b.cluster.membership.stop(false);
    const silentAt = Date.now();
    const seen = await waitFor(
      'the DOWN',
      async () => {
        const s = (await a.rt.call<RecorderMessages>(watcher, { type: 'seen' })) as unknown[];
        return s.length > 0 ? s : undefined;
      },
      5000,
      10,
    );
    const tookMs = Date.now() - silentAt;
    expect(seen).toMatchObject([{ type: 'DOWN', pid: target, reason: { type: 'noconnection' } }]);
    expect(a.cluster.membership.detectionBoundMs).toBe(1750);
    expect(tookMs).toBeLessThanOrEqual(a.cluster.membership.detectionBoundMs + 250);
  });

  it('refuses to join under the name of a live node', async () => {
    await nodes('same');
    await expect(nodes('same')).rejects.toSatisfy((e) => HotlineError.is(e, 'HOT_ERR_NODE_NAME_TAKEN'));
  });

  it('the directory: a name held on another node is refused; a node gone loses its names', async () => {
    const [a, b] = await nodes('ka', 'kb');
    if (a === undefined || b === undefined) throw new Error('two nodes');
    const alice = a.rt.spawn('recorder', undefined);
    a.rt.register('user:alice', alice);
    a.rt.register('local-only', a.rt.spawn('recorder', undefined));
    await waitFor('b sees alice', () => b.rt.whereis('user:alice') === alice);
    expect(b.rt.whereis('local-only')).toBeUndefined();
    expect(() => b.rt.register('user:alice', b.rt.spawn('recorder', undefined))).toThrow(
      expect.objectContaining({ code: 'HOT_ERR_NAME_TAKEN' }),
    );
    // Unregistered when its process ends, everywhere.
    a.rt.exit(alice, { type: 'kill' });
    await waitFor('alice gone on b', () => b.rt.whereis('user:alice') === undefined);
    const bob = b.rt.spawn('recorder', undefined);
    b.rt.register('user:bob', bob);
    await waitFor('a sees bob', () => a.rt.whereis('user:bob') === bob);
    await waitFor('a sees kb', () => a.cluster.membership.isUp('kb'));
    b.cluster.membership.stop(false);
    await waitFor('bob cleaned up after kb is down', () => a.rt.whereis('user:bob') === undefined, 5000);
    expect(a.cluster.directory.entries().filter((e) => e.node === 'kb')).toEqual([]);
  });

  it('the directory: a starting node deletes its own leftovers (a crash) before it serves', async () => {
    const bucket = freshBucket();
    const kv = await rawBucket(bucket);
    await putEntry(kv, 'user:ghost', '<7@la>');
    const [a] = await nodesOn(bucket, ['la']);
    if (a === undefined) throw new Error('one node');
    // Gone as soon as the node has joined, from its copy and the bucket: the name is free again.
    expect(a.rt.whereis('user:ghost')).toBeUndefined();
    expect(await held(kv, 'user:ghost')).toBe(false);
    const ghost = a.rt.spawn('recorder', undefined);
    a.rt.register('user:ghost', ghost);
    await waitFor('ghost held again', () => held(kv, 'user:ghost'));
  });

  it('the directory: entries of a node nobody saw die are swept once a starting node has heard every live node', async () => {
    const bucket = freshBucket();
    const kv = await rawBucket(bucket);
    const [a] = await nodesOn(bucket, ['sa']);
    if (a === undefined) throw new Error('one node');
    const alice = a.rt.spawn('recorder', undefined);
    a.rt.register('user:alice', alice);
    await waitFor('alice in the bucket', () => held(kv, 'user:alice'));
    // sa's own sweep, one detection bound after its start, is behind it: what follows is sb's.
    const boundMs = a.cluster.membership.detectionBoundMs;
    await sleep(boundMs + 250);
    await putEntry(kv, 'user:zed', '<9@gone>');
    await waitFor('sa sees zed', () => a.rt.whereis('user:zed') === '<9@gone>');

    const startedAt = Date.now();
    const [b] = await nodesOn(bucket, ['sb']);
    if (b === undefined) throw new Error('another node');
    await waitFor('zed swept from the bucket', async () => !(await held(kv, 'user:zed')), 2 * boundMs + 1000);
    expect(Date.now() - startedAt, 'not before sb could hear every live node').toBeGreaterThanOrEqual(
      boundMs - TIMER_SLACK_MS,
    );
    await waitFor('zed gone everywhere', () => [a, b].every((n) => n.rt.whereis('user:zed') === undefined));
    // A live node's entries stay.
    await sleep(100);
    expect(await held(kv, 'user:alice')).toBe(true);
    expect(b.rt.whereis('user:alice')).toBe(alice);
  });

  it('a lost race for a name ends the local loser', async () => {
    const [a, b] = await nodes('wa', 'wb');
    if (a === undefined || b === undefined) throw new Error('two nodes');
    const one = a.rt.spawn('recorder', undefined);
    const two = b.rt.spawn('recorder', undefined);
    // Both copies are empty: each node accepts at once, and the bucket picks one.
    a.rt.register('user:carol', one);
    b.rt.register('user:carol', two);
    const winner = await waitFor('one holder everywhere', () => {
      const pa = a.rt.whereis('user:carol');
      return pa !== undefined && pa === b.rt.whereis('user:carol') ? pa : undefined;
    });
    const loser: Pid = winner === one ? two : one;
    await waitFor('the loser ended', () => !a.rt.isAlive(loser) && !b.rt.isAlive(loser));
  });
});
