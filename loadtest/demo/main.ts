/**
 * `npm run demo`, at this stage of the project: the process runtime on its own. It starts
 * a node, puts 10,000 counter processes under a dynamic supervisor, keeps messages
 * flowing, swaps every process from version 1 to version 2 mid-traffic (codeChange adds a
 * field), and prints what happened. The WebSocket call server comes with the next issue.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Behaviour, noreply, type Pid, Runtime, reply, startChild } from '../../server/runtime/index.ts';

type V1 = { count: number };
type V2 = { count: number; lastSeenAt: number };
type Msgs = { call: 'get'; reply: number; cast: 'tick'; info: never };

const v1: Behaviour<V1, null, Msgs> = {
  name: 'counter',
  version: '1.0.0',
  init: () => ({ count: 0 }),
  handleCast: (_m, s) => noreply({ count: s.count + 1 }),
  handleCall: (_m, _f, s) => reply(s.count, s),
};

const v2: Behaviour<V2, null, Msgs> = {
  name: 'counter',
  version: '2.0.0',
  init: () => ({ count: 0, lastSeenAt: 0 }),
  handleCast: (_m, s, ctx) => noreply({ count: s.count + 1, lastSeenAt: ctx.now() }),
  handleCall: (_m, _f, s) => reply(s.count, s),
  // Upgrade from 1.0.0: keep the count, start the new field.
  codeChange: (_from, state) => ({ count: (state as V1).count, lastSeenAt: 0 }),
};

const N = 10_000;
const rt = new Runtime({ node: 'demo' });
rt.modules.load(v1);
const sup = rt.spawn('dynamic_supervisor', { module: 'counter' });
const pids: Pid<Msgs>[] = [];
for (let i = 0; i < N; i++) pids.push((await startChild(rt, sup, null)) as Pid<Msgs>);
console.log(`node ${rt.node}: ${rt.processCount} processes (${N} counters on ${v1.version})`);

let sent = 0;
let flowing = true;
const traffic = (async () => {
  while (flowing) {
    for (const pid of pids) rt.cast(pid, 'tick');
    sent += pids.length;
    await sleep(10);
  }
})();

await sleep(300);
rt.modules.load(v2);
const t0 = performance.now();
let longest = 0;
for (const pid of pids) {
  const s0 = performance.now();
  // At a message boundary already (no callback in flight)? Then no waiting at all.
  if (!rt.sys.trySuspend(pid)) await rt.sys.suspend(pid);
  rt.sys.changeCode(pid, { to: v2, direction: 'up' });
  rt.sys.resume(pid);
  longest = Math.max(longest, performance.now() - s0);
}
const upgradeMs = performance.now() - t0;
await sleep(300);
flowing = false;
await traffic;
await rt.idle();

const counted = (await Promise.all(pids.map((pid) => rt.call(pid, 'get')))).reduce((a, b) => a + b, 0);
const versions = rt.modules.versions().filter((v) => v.module === 'counter');
console.log(
  `upgraded ${N} live processes 1.0.0 -> 2.0.0 in ${upgradeMs.toFixed(0)} ms; longest suspension ${longest.toFixed(3)} ms`,
);
console.log(
  `messages sent ${sent}, counted by the processes ${counted}: ${sent === counted ? 'none lost' : `${sent - counted} LOST`}`,
);
console.log(
  `versions: ${versions.map((v) => `${v.version} (${v.processes} processes${v.current ? ', current' : ''})`).join(', ')}`,
);
console.log('The WebSocket call server, releases and the load harness arrive with the next issues.');
process.exitCode = sent === counted ? 0 : 1;
