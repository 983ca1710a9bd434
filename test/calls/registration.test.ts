/**
 * Authenticated registration: a phone registers with a phone token, and the node takes the
 * user from the token. Every refusal with its code; names that cannot be stolen; a phone that
 * comes back replacing its old connection, on its node or from another node of a cluster; a
 * token that expires during a call; key rotation, on one node and across two; brute force
 * throttled per source address; open registration.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { userName } from '../../server/calls/contract.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { type Answer, requestSubject } from '../../server/cluster/node-requests.ts';
import { ClusterReplacement, REPLACE_TOPIC } from '../../server/http/cluster-replacement.ts';
import { PhoneAuth } from '../../server/http/phone-auth.ts';
import { issuePhoneToken } from '../../server/http/phone-tokens.ts';
import { REPLACED_CLOSE_CODE } from '../../server/http/registration-gate.ts';
import type { NodeSettings } from '../../server/node/settings.ts';
import { devKeyPair } from '../../server/release/keys.ts';
import { pidNode } from '../../server/runtime/index.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { cdrOf, fetchCdrs } from '../support/cdrs.ts';
import { metric } from '../support/metrics.ts';
import { seeEachOther, useNatsServer } from '../support/nats.ts';
import { reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import { startTestNode, type TestNode, tempDataDir } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';

type ErrorFrame = Extract<ServerMessage, { type: 'error' }>;

const nats = useNatsServer();
const started: TestNode[] = [];
const phones: Phone[] = [];
afterEach(async () => {
  for (const p of phones.splice(0)) p.ws.terminate();
  await Promise.all(started.splice(0).map((n) => n.shutdown()));
  await reapNodeProcesses();
});

async function start(settings: Partial<NodeSettings> = {}): Promise<TestNode> {
  const n = await startTestNode(settings);
  started.push(n);
  return n;
}

/** A phone with no token source: each test says what it presents. */
async function bare(n: TestNode, localAddress?: string): Promise<Phone> {
  const p = await Phone.connect(n.callsUrl, localAddress === undefined ? {} : { localAddress });
  phones.push(p);
  return p;
}

/** Send a register with exactly these fields; resolves with the node's answer. */
async function present(p: Phone, fields: Record<string, unknown>): Promise<ServerMessage> {
  p.sendRaw(JSON.stringify({ type: 'register', ...fields }));
  return p.next((m) => m.type === 'registered' || (m.type === 'error' && m.ref === 'register'));
}

/** The observer's first snapshot, from its event stream. */
async function firstSnapshot(n: TestNode): Promise<unknown> {
  const res = await fetch(`${n.adminUrl}/admin/observer/events`, {
    headers: { authorization: `Bearer ${n.adminToken}` },
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  for (;;) {
    const m = /event: snapshot\ndata: (.*)\n/.exec(text);
    if (m !== null) {
      await reader.cancel();
      return JSON.parse(m[1] as string);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`the event stream ended before a snapshot: ${text}`);
    text += Buffer.from(value).toString();
  }
}

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A public key in a PEM file of its own, for --phone-keys. */
function publicKeyFile(dir: string, name: string, key: KeyObject): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.pem`);
  writeFileSync(path, key.export({ type: 'spki', format: 'pem' }));
  return path;
}

describe('a register is refused, with its code, when its token', () => {
  it.each<[string, (n: TestNode) => Promise<Record<string, unknown>>, string]>([
    ['is missing', async () => ({ user: 'alice' }), 'HOT_ERR_PHONE_TOKEN_MISSING'],
    ['is not a JWT', async () => ({ user: 'alice', token: 'not.a-jwt' }), 'HOT_ERR_PHONE_TOKEN_MALFORMED'],
    ['is not a string', async () => ({ user: 'alice', token: 42 }), 'HOT_ERR_PHONE_TOKEN_MALFORMED'],
    [
      'has expired',
      async (n) => ({ user: 'alice', token: await issuePhoneToken(n.dataDir, 'alice', -MINUTE) }),
      'HOT_ERR_PHONE_TOKEN_EXPIRED',
    ],
    [
      'is not valid yet',
      async (n) => ({
        user: 'alice',
        token: await issuePhoneToken(n.dataDir, 'alice', HOUR, { notBefore: Date.now() + 10 * MINUTE }),
      }),
      'HOT_ERR_PHONE_TOKEN_NOT_YET_VALID',
    ],
    [
      'names another issuer',
      async (n) => ({
        user: 'alice',
        token: await issuePhoneToken(n.dataDir, 'alice', HOUR, { issuer: 'elsewhere' }),
      }),
      'HOT_ERR_PHONE_TOKEN_REJECTED',
    ],
    [
      'is signed by a key the node does not trust',
      async (n) => ({
        user: 'alice',
        token: await issuePhoneToken(n.dataDir, 'alice', HOUR, {
          privateKey: generateKeyPairSync('ed25519').privateKey,
        }),
      }),
      'HOT_ERR_PHONE_TOKEN_REJECTED',
    ],
    [
      'was changed after signing (another user in a token signed for bob)',
      async (n) => {
        const [header, , signature] = (await issuePhoneToken(n.dataDir, 'bob', HOUR)).split('.');
        const claims = Buffer.from(
          JSON.stringify({ sub: 'alice', iss: 'hotline', exp: Math.floor(Date.now() / 1000) + 3600 }),
        ).toString('base64url');
        return { user: 'alice', token: `${header}.${claims}.${signature}` };
      },
      'HOT_ERR_PHONE_TOKEN_REJECTED',
    ],
    [
      'names no user name',
      async (n) => ({ user: 'alice', token: await issuePhoneToken(n.dataDir, 'not a name', HOUR) }),
      'HOT_ERR_PHONE_USER_NOT_ALLOWED',
    ],
    [
      'names another user than the register',
      async (n) => ({ user: 'alice', token: await issuePhoneToken(n.dataDir, 'mallory', HOUR) }),
      'HOT_ERR_PHONE_USER_MISMATCH',
    ],
  ])('%s', async (_why, fields, code) => {
    const n = await start();
    const p = await bare(n);
    expect(await present(p, await fields(n))).toMatchObject({ type: 'error', code, ref: 'register' });
    // Nothing registered, the connection stays open, and the refusal is counted by code.
    expect(n.rt.whereis(userName('alice'))).toBeUndefined();
    p.send({ type: 'invite', callId: 'x', to: 'echo' });
    expect(await p.next('error')).toMatchObject({ code: 'HOT_ERR_NOT_REGISTERED' });
    expect(p.isOpen).toBe(true);
    expect(await metric(n, 'hotline_registrations_refused_total', { code })).toBe(1);
    // The same phone registers once it presents a good token.
    expect(await present(p, { user: 'alice', token: await n.tokens('alice') })).toMatchObject({
      type: 'registered',
      user: 'alice',
    });
  });

  it('names a user outside --phone-users', async () => {
    const n = await start({ phoneUsers: 'alice|bob' });
    const p = await bare(n);
    expect(await present(p, { user: 'carol', token: await n.tokens('carol') })).toMatchObject({
      code: 'HOT_ERR_PHONE_USER_NOT_ALLOWED',
    });
    expect(await present(p, { user: 'bob', token: await n.tokens('bob') })).toMatchObject({
      type: 'registered',
    });
  });
});

describe('a name cannot be taken without its token', () => {
  it('while its owner is connected, and after it has gone; the answers never say whether the user exists', async () => {
    const n = await start();
    const alice = await n.phone('alice');
    const owner = n.rt.whereis(userName('alice'));
    const mallory = await bare(n);
    const malloryToken = await n.tokens('mallory');
    const attempts = async () => [
      await present(mallory, { user: 'alice' }),
      await present(mallory, { user: 'alice', token: malloryToken }),
    ];
    const whileOwned = await attempts();
    expect(whileOwned.map((m) => (m as ErrorFrame).code)).toEqual([
      'HOT_ERR_PHONE_TOKEN_MISSING',
      'HOT_ERR_PHONE_USER_MISMATCH',
    ]);
    // The owner is untouched.
    expect(n.rt.whereis(userName('alice'))).toBe(owner);
    await serviceCall(alice, 'still-mine');
    alice.send({ type: 'bye', callId: 'still-mine' });
    await alice.next('ended');

    await alice.close();
    await waitFor('alice gone', () => n.rt.whereis(userName('alice')) === undefined);
    // The same answers, word for word, once nobody holds the name.
    expect(await attempts()).toEqual(whileOwned);
    expect(n.rt.whereis(userName('alice'))).toBeUndefined();
    // And the same as for a user that never existed.
    const nobody = await present(mallory, { user: 'nobody', token: malloryToken });
    expect(nobody).toEqual(whileOwned[1]);
  });
});

describe('a valid registration for a name another connection holds', () => {
  it('replaces it: the old phone hears HOT_ERR_REGISTRATION_REPLACED and 4409, its call ends with a CDR', async () => {
    const n = await start();
    const old = await n.phone('alice');
    await serviceCall(old, 'before');
    const flow = new MediaFlow(old, 'before');
    await flow.more(2);
    const oldSession = n.rt.whereis(userName('alice'));

    // Alice's phone comes back on a new connection (its old one is still up as far as the node knows).
    const back = await n.phone('alice');
    flow.stop();
    expect(await old.next('error')).toMatchObject({ code: 'HOT_ERR_REGISTRATION_REPLACED' });
    expect(await old.closed).toMatchObject({ code: REPLACED_CLOSE_CODE, reason: 'replaced' });
    const now = n.rt.whereis(userName('alice'));
    expect(now).toBeDefined();
    expect(now).not.toBe(oldSession);
    expect(n.rt.isAlive(oldSession as never)).toBe(false);
    expect(await cdrOf(n, 'before')).toMatchObject({
      caller: 'alice',
      cause: 'client_gone',
      endedBy: 'caller',
    });
    expect(await metric(n, 'hotline_registrations_replaced_total')).toBe(1);

    // The new connection is alice now: it calls, and calls reach it.
    await serviceCall(back, 'after');
    back.send({ type: 'bye', callId: 'after' });
    expect(await back.next('ended')).toMatchObject({ cause: 'normal' });
  });

  it('without a valid token changes nothing', async () => {
    const n = await start();
    const owner = await n.phone('alice');
    const session = n.rt.whereis(userName('alice'));
    const other = await bare(n);
    await present(other, { user: 'alice', token: await issuePhoneToken(n.dataDir, 'alice', -MINUTE) });
    await present(other, { user: 'alice', token: await n.tokens('eve') });
    expect(n.rt.whereis(userName('alice'))).toBe(session);
    expect(owner.isOpen).toBe(true);
    expect(await metric(n, 'hotline_registrations_replaced_total')).toBe(0);
  });
});

describe('a token that expires during a call', () => {
  it('leaves the call up; the next registration needs a fresh token', async () => {
    const n = await start();
    const token = await issuePhoneToken(n.dataDir, 'alice', 1500);
    const p = await bare(n);
    expect(await present(p, { user: 'alice', token })).toMatchObject({ type: 'registered' });
    await serviceCall(p, 'long');
    const flow = new MediaFlow(p, 'long');
    await sleep(2100);
    // Past its expiry (jose compares whole seconds): media still flows, the call ends normally.
    await flow.more(3);
    await flow.drain();
    p.send({ type: 'bye', callId: 'long' });
    expect(await p.next('ended')).toMatchObject({ cause: 'normal' });
    await p.close();

    const again = await bare(n);
    expect(await present(again, { user: 'alice', token })).toMatchObject({
      code: 'HOT_ERR_PHONE_TOKEN_EXPIRED',
    });
    expect(await present(again, { user: 'alice', token: await n.tokens('alice') })).toMatchObject({
      type: 'registered',
    });
  });
});

describe('key rotation', () => {
  it('a node trusts every listed key (a file or a directory); a removed key no longer admits', async () => {
    const keysDir = join(tempDataDir(), 'phone-keys');
    const oldKey = generateKeyPairSync('ed25519');
    const newKey = generateKeyPairSync('ed25519');
    publicKeyFile(keysDir, 'old', oldKey.publicKey);
    const newFile = publicKeyFile(join(keysDir, '..', 'next'), 'new', newKey.publicKey);
    const dataDir = tempDataDir();
    const signed = (privateKey: KeyObject, user: string) =>
      issuePhoneToken(dataDir, user, HOUR, { privateKey });

    const both = await start({ dataDir, phoneKeys: [keysDir, newFile] });
    for (const [user, key] of [
      ['olga', oldKey],
      ['nina', newKey],
    ] as const)
      expect(
        await present(await bare(both), { user, token: await signed(key.privateKey, user) }),
      ).toMatchObject({
        type: 'registered',
      });
    await both.shutdown();
    started.splice(started.indexOf(both), 1);

    // The old key is retired: only the new one is listed.
    const rotated = await start({ dataDir, phoneKeys: [newFile] });
    const p = await bare(rotated);
    expect(await present(p, { user: 'olga', token: await signed(oldKey.privateKey, 'olga') })).toMatchObject({
      code: 'HOT_ERR_PHONE_TOKEN_REJECTED',
    });
    expect(await present(p, { user: 'olga', token: await signed(newKey.privateKey, 'olga') })).toMatchObject({
      type: 'registered',
    });
  });

  it('across a 2-node cluster: one operator key admits a phone on either node, and calls cross', async () => {
    const operator = generateKeyPairSync('ed25519');
    const retired = generateKeyPairSync('ed25519');
    const keys = join(tempDataDir(), 'operator');
    const file = publicKeyFile(keys, 'operator', operator.publicKey);
    const retiredFile = publicKeyFile(keys, 'retired', retired.publicKey);
    // n1 still trusts the retired key; n2 was rotated already and does not.
    const n1 = await start({ node: 'k1', cluster: nats().url, phoneKeys: [file, retiredFile] });
    const n2 = await start({ node: 'k2', cluster: nats().url, phoneKeys: [file] });
    await seeEachOther([n1, n2]);
    const token = (user: string, key = operator.privateKey) =>
      issuePhoneToken(n1.dataDir, user, HOUR, { privateKey: key });

    const alice = await bare(n1);
    expect(await present(alice, { user: 'alice', token: await token('alice') })).toMatchObject({
      type: 'registered',
    });
    const bob = await bare(n2);
    expect(await present(bob, { user: 'bob', token: await token('bob', retired.privateKey) })).toMatchObject({
      code: 'HOT_ERR_PHONE_TOKEN_REJECTED',
    });
    expect(await present(bob, { user: 'bob', token: await token('bob') })).toMatchObject({
      type: 'registered',
    });
    await waitFor('bob in the directory of n1', () => n1.rt.whereis(userName('bob')));

    alice.send({ type: 'invite', callId: 'across', to: 'bob' });
    await bob.next((m) => m.type === 'incoming' && m.callId === 'across');
    bob.send({ type: 'answer', callId: 'across' });
    await alice.next((m) => m.type === 'answered' && m.callId === 'across');
    alice.send({ type: 'bye', callId: 'across' });
    expect(await bob.next('ended')).toMatchObject({ cause: 'normal' });
  });
});

describe('brute force', () => {
  it('is throttled per source address: past the limit 1008, no token is checked; other addresses register', async () => {
    const n = await start({ registrationFailures: 3, registrationFailureWindowMs: 1500 });
    const guesser = await bare(n, '127.0.0.1');
    for (let i = 0; i < 3; i++)
      expect(await present(guesser, { user: 'alice', token: `guess.${i}.x` })).toMatchObject({
        code: 'HOT_ERR_PHONE_TOKEN_MALFORMED',
      });
    expect(await present(guesser, { user: 'alice', token: 'guess.3.x' })).toMatchObject({
      code: 'HOT_ERR_PHONE_AUTH_THROTTLED',
    });
    expect(await guesser.closed).toMatchObject({ code: 1008 });

    // A new connection from the same address is closed too, even with a valid token.
    const same = await bare(n, '127.0.0.1');
    expect(await present(same, { user: 'alice', token: await n.tokens('alice') })).toMatchObject({
      code: 'HOT_ERR_PHONE_AUTH_THROTTLED',
    });
    expect(await same.closed).toMatchObject({ code: 1008 });
    expect(n.rt.whereis(userName('alice'))).toBeUndefined();

    // Another address is not affected.
    const other = await bare(n, '127.0.0.2');
    expect(await present(other, { user: 'bob', token: await n.tokens('bob') })).toMatchObject({
      type: 'registered',
    });
    expect(
      await metric(n, 'hotline_registrations_refused_total', { code: 'HOT_ERR_PHONE_AUTH_THROTTLED' }),
    ).toBe(2);

    // Once the window has passed, the address registers again.
    await sleep(1600);
    const later = await bare(n, '127.0.0.1');
    expect(await present(later, { user: 'alice', token: await n.tokens('alice') })).toMatchObject({
      type: 'registered',
    });
  });
});

describe('open registration', () => {
  it('takes a register without a token, and says so in /metrics and to the observer', async () => {
    const n = await start({ openRegistration: true });
    expect(await metric(n, 'hotline_open_registration')).toBe(1);
    expect(await firstSnapshot(n)).toMatchObject({ openRegistration: true });
    const p = await bare(n);
    expect(await present(p, { user: 'alice' })).toMatchObject({ type: 'registered', user: 'alice' });
    // A client that has a token works too: the token is ignored, whatever it says.
    expect(await present(await bare(n), { user: 'bob', token: 'anything' })).toMatchObject({
      type: 'registered',
      user: 'bob',
    });
  });

  it('is off by default', async () => {
    const n = await start();
    expect(await metric(n, 'hotline_open_registration')).toBe(0);
  });

  it('is warned of in the log at every start of a node process, and only with the flag', async () => {
    const dataDir = tempDataDir();
    const warnings = async (args: string[]) => {
      const n = await spawnNodeProcess(dataDir, args);
      n.proc.kill('SIGTERM');
      expect(await n.exited).toMatchObject({ code: 0 });
      return n
        .output()
        .split('\n')
        .filter((line) => line.includes('open registration'))
        .map((line) => JSON.parse(line) as { level: number; msg: string });
    };
    try {
      for (let start = 0; start < 2; start++) {
        const logged = await warnings(['--open-registration']);
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatchObject({ level: 40, msg: expect.stringContaining('--open-registration') });
      }
      expect(await warnings([])).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000); // three node processes, one after the other
});

describe('phone tokens from the admin surface', () => {
  it('POST /admin/phone-tokens issues one behind the admin token', async () => {
    const n = await start();
    const post = (token: string | null) =>
      fetch(`${n.adminUrl}/admin/phone-tokens`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify({ user: 'alice', ttlMs: 60_000 }),
      });
    expect((await post(null)).status).toBe(401);
    const res = await post(n.adminToken);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(await present(await bare(n), { user: 'alice', token })).toMatchObject({ type: 'registered' });
  });
});

/** Two nodes that trust one phone key (a's): a token from `a.tokens` registers on either. */
async function twoNodes(): Promise<[TestNode, TestNode]> {
  const a = await start({ node: 'ra', cluster: nats().url });
  // In a's data directory, removed with it: b reads it once, at its start.
  const keyFile = publicKeyFile(a.dataDir, 'operator', devKeyPair(a.dataDir, 'phone-signing').publicKey);
  const b = await start({ node: 'rb', cluster: nats().url, phoneKeys: [keyFile] });
  await seeEachOther([a, b]);
  return [a, b];
}

async function phoneOn(n: TestNode, tokens: TestNode['tokens'], user: string): Promise<Phone> {
  const p = await Phone.connect(n.callsUrl, { token: tokens });
  phones.push(p);
  await p.register(user);
  return p;
}

const holderNode = (n: TestNode, user: string) => {
  const pid = n.rt.whereis(userName(user));
  return pid === undefined ? undefined : pidNode(pid);
};

describe('a valid registration on another node of the cluster', () => {
  it("replaces the holder on its node: 4409 there, the call's CDR there, and the user registers here", async () => {
    const [a, b] = await twoNodes();
    const old = await phoneOn(a, a.tokens, 'alice');
    const bob = await phoneOn(b, a.tokens, 'bob');
    await waitFor('bob known on ra', () => holderNode(a, 'bob') === 'rb');
    await waitFor('alice known on rb', () => holderNode(b, 'alice') === 'ra');
    await answeredCall(old, bob, 'before', 'bob');
    const flow = new MediaFlow(old, 'before');
    await flow.more(2);

    // Alice's phone comes back on the other node, its old connection still up as far as ra knows.
    const back = await phoneOn(b, a.tokens, 'alice');
    flow.stop();
    expect(await old.next('error')).toMatchObject({ code: 'HOT_ERR_REGISTRATION_REPLACED' });
    expect(await old.closed).toMatchObject({ code: REPLACED_CLOSE_CODE, reason: 'replaced' });
    expect(await bob.next((m) => m.type === 'ended' && m.callId === 'before')).toMatchObject({
      type: 'ended',
    });
    expect(holderNode(b, 'alice')).toBe('rb');
    await waitFor('ra sees alice on rb', () => holderNode(a, 'alice') === 'rb');
    // The call alice placed from ra has its one CDR on ra, ended by her old connection going.
    expect(await cdrOf(a, 'before')).toMatchObject({
      caller: 'alice',
      callee: 'bob',
      cause: 'client_gone',
      endedBy: 'caller',
    });
    expect(await fetchCdrs(b, { callId: 'before' })).toEqual([]);
    expect(await metric(a, 'hotline_registrations_replaced_total')).toBe(1);
    expect(await metric(b, 'hotline_registrations_replaced_total')).toBe(0);

    // The new connection is alice now: bob reaches it on rb.
    await answeredCall(bob, back, 'after', 'alice');
    bob.send({ type: 'bye', callId: 'after' });
    expect(await back.next('ended')).toMatchObject({ cause: 'normal' });
  });

  it('without a valid token changes nothing on the holding node', async () => {
    const [a, b] = await twoNodes();
    const owner = await phoneOn(a, a.tokens, 'alice');
    const session = a.rt.whereis(userName('alice'));
    await waitFor('alice known on rb', () => holderNode(b, 'alice') === 'ra');

    const other = await bare(b);
    const expired = await issuePhoneToken(a.dataDir, 'alice', -60_000);
    expect(await present(other, { user: 'alice', token: expired })).toMatchObject({
      code: 'HOT_ERR_PHONE_TOKEN_EXPIRED',
    });
    expect(await present(other, { user: 'alice', token: await a.tokens('eve') })).toMatchObject({
      code: 'HOT_ERR_PHONE_USER_MISMATCH',
    });
    // A token rb trusts but ra does not: ra refuses to let go, and rb says so.
    const bOnly = await issuePhoneToken(b.dataDir, 'alice', 60_000);
    expect(await present(other, { user: 'alice', token: bOnly })).toMatchObject({
      code: 'HOT_ERR_REGISTRATION_NOT_RELEASED',
    });

    // Requests forged straight onto ra's subject: not JSON, not the schema, a bad token.
    const nc = await connect({ servers: nats().url });
    try {
      const ask = async (data: string) =>
        JSON.parse(
          new TextDecoder().decode(
            (await nc.request(requestSubject('ra', REPLACE_TOPIC), new TextEncoder().encode(data))).data,
          ),
        );
      expect(await ask('{not json')).toEqual({ refused: 'HOT_ERR_SCHEMA' });
      expect(await ask(JSON.stringify({ user: 'alice' }))).toEqual({ refused: 'HOT_ERR_SCHEMA' });
      expect(await ask(JSON.stringify({ user: 'alice', token: expired }))).toEqual({
        refused: 'HOT_ERR_PHONE_TOKEN_EXPIRED',
      });
      expect(await ask(JSON.stringify({ user: 'alice', token: await a.tokens('eve') }))).toEqual({
        refused: 'HOT_ERR_PHONE_USER_MISMATCH',
      });
    } finally {
      await nc.close();
    }

    await sleep(100);
    expect(a.rt.whereis(userName('alice'))).toBe(session);
    expect(holderNode(b, 'alice')).toBe('ra');
    expect(owner.isOpen).toBe(true);
    expect(await metric(a, 'hotline_registrations_replaced_total')).toBe(0);
    // The owner still calls.
    owner.send({ type: 'invite', callId: 'still', to: 'echo' });
    await owner.next((m) => m.type === 'answered' && m.callId === 'still');
  });
});

describe('taking a user over from another node, as this node waits for it', () => {
  const auth = new PhoneAuth({
    keys: new Map(),
    issuer: 'hotline',
    users: undefined,
    failures: 10,
    failureWindowMs: 60_000,
  });
  const replacement = (holder: () => string | undefined, answer: Answer) =>
    new ClusterReplacement({
      requests: { ask: async () => answer, answer: () => () => undefined },
      node: 'here',
      holder,
      auth,
      timeoutMs: 300,
      refused: () => undefined,
    });

  it('ends in a typed error when the other node never frees the name', async () => {
    const r = replacement(() => 'there', { ok: false, why: 'timeout' });
    expect(await r.takeOver('alice', 'token')).toMatchObject({
      code: 'HOT_ERR_REGISTRATION_NOT_RELEASED',
      message: expect.stringContaining('still held after 300 ms'),
    });
  });

  it('goes on once the name is free here, whatever a peer answered', async () => {
    let holder: string | undefined = 'there';
    setTimeout(() => {
      holder = undefined;
    }, 100);
    const r = replacement(() => holder, { ok: true, body: { something: 'else' } });
    expect(await r.takeOver('alice', 'token')).toBeUndefined();
  });

  it('asks nobody for a user held here or nowhere', async () => {
    const r = replacement(() => 'here', { ok: false, why: 'failed' });
    expect(await r.takeOver('alice', 'token')).toBeUndefined();
    expect(
      await replacement(() => undefined, { ok: false, why: 'failed' }).takeOver('a', 't'),
    ).toBeUndefined();
  });
});
