/**
 * A process for watchdog.test.ts: a runtime with one process and the watchdog, then either a
 * callback that never returns (`block`) or callbacks that keep the event loop busy but let it
 * turn between them (`busy`, for three times the watchdog's time, then a clean exit).
 * `node --import tsx test/node/watchdog-target.ts <watchdogMs> <block|busy> <dataDir>`
 */
import { performance } from 'node:perf_hooks';
import { startWatchdog } from '../../server/node/watchdog.ts';
import { type Behaviour, noreply, Runtime } from '../../server/runtime/index.ts';

const [msArg, mode, dataDir] = process.argv.slice(2);
const watchdogMs = Number(msArg);
if (dataDir === undefined || (mode !== 'block' && mode !== 'busy'))
  throw new Error('usage: <ms> <block|busy> <dir>');

type Work = { type: 'spin' } | { type: 'work'; ms: number };
const spinner: Behaviour<null, null, { call: never; reply: never; cast: Work; info: never }> = {
  name: 'spinner',
  version: '9.9.9',
  init: () => null,
  handleCast(m, s) {
    if (m.type === 'spin') for (;;) {}
    const end = performance.now() + m.ms;
    while (performance.now() < end) {}
    return noreply(s);
  },
};

const rt = new Runtime({ node: 'wd' });
const pid = rt.spawn(spinner, null);
const watchdog = await startWatchdog({ watchdogMs, dataDir, node: 'wd', running: rt.running });
watchdog?.probation('7.7.7');
const say = (what: object) => process.stdout.write(`${JSON.stringify(what)}\n`);
say({ ready: pid });

if (mode === 'block') {
  setTimeout(() => {
    say({ spinning: Date.now() });
    rt.cast(pid, { type: 'spin' });
  }, 50);
} else {
  const until = performance.now() + 3 * watchdogMs;
  const next = () => {
    if (performance.now() > until) {
      void watchdog?.stop().then(() => say({ done: true }));
      return;
    }
    rt.cast(pid, { type: 'work', ms: watchdogMs / 4 });
    void rt.idle().then(() => setImmediate(next));
  };
  next();
}
