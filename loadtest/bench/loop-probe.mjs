/**
 * Imported into a node's process by the handoff bench (`--import`, plain JS so that it loads
 * before tsx): with HOTLINE_BENCH_LOOP_DIR set, it records the event loop's longest delay in
 * every 100 ms and writes them, as [epoch ms, max delay ms] pairs, to <dir>/<pid>.json when
 * the process exits. A successor inherits the flag, so both sides of a handoff are probed.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dir = process.env.HOTLINE_BENCH_LOOP_DIR;
if (dir) {
  const delay = monitorEventLoopDelay({ resolution: 2 });
  delay.enable();
  const windows = [];
  const take = () => {
    windows.push([Date.now(), delay.max / 1e6]);
    delay.reset();
  };
  setInterval(take, 100).unref();
  process.on('exit', () => {
    take();
    writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify(windows));
  });
}
