/**
 * An install run dry, through the admin API and `hotline install <v> --dry-run`: the plan
 * (steps, per-module action, processes each step would move) and the preflight come back, and
 * nothing changes: no process moved or suspended, the module table, the history and the
 * install state as they were.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../server/http/errors.ts';
import { releaseRoutes } from '../../server/http/release-routes.ts';
import { type PreflightReport, ReleaseHandler } from '../../server/release/handler.ts';
import { evaluateRelease } from '../../server/release/loader.ts';
import { readReleaseManifest } from '../../server/release/manifest.ts';
import type { InstallPlan } from '../../server/release/plan.ts';
import type { Pid, Runtime } from '../../server/runtime/index.ts';
import {
  bundledFixture,
  codeOf,
  fixturesDir,
  newKeys,
  settleUntilQuiet,
  signAsTestRelease,
} from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { tempDataDir } from '../support/test-node.ts';
import { FULL_STEPS } from './modules.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let rt: Runtime;
let handler: ReleaseHandler;
let app: FastifyInstance;
let url: string;
let dataDir: string;
let pids: Pid[];

beforeAll(async () => {
  ({ rt } = simulatedRuntime());
  dataDir = tempDataDir();
  const keys = newKeys();
  const [c1, c2] = await Promise.all([bundledFixture('1.0.0'), bundledFixture('2.0.0')]);
  handler = new ReleaseHandler({
    rt,
    dataDir,
    baseline: evaluateRelease(c1, '1.0.0'),
    trustedKeys: [keys.publicKey],
  });
  const booted = await handler.boot();
  for (const b of booted.behaviours) rt.modules.load(b);
  pids = Array.from({ length: 12 }, (_, i) => rt.spawn('worker', i));
  for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
  await settleUntilQuiet(rt);
  await handler.unpack(signAsTestRelease(keys, '2.0.0', c2, readReleaseManifest(join(fixturesDir, '2.0.0'))));
  app = Fastify();
  installErrorHandler(app);
  releaseRoutes(app, handler);
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** What a dry run must leave as it was. */
function snapshot() {
  return {
    code: pids.map((pid) => codeOf(rt, pid)),
    states: pids.map((pid) => structuredClone(rt.sys.getState(pid))),
    suspended: pids.filter((pid) => rt.lookup(pid)?.suspended),
    current: rt.modules.get('worker'),
    guard: rt.guard,
    history: structuredClone(handler.store.history),
    list: handler.list(),
  };
}

describe('install dry run', () => {
  it('the admin API answers the plan and the preflight, and changes nothing', async () => {
    const before = snapshot();
    const res = await app.inject({
      method: 'POST',
      url: '/admin/releases/2.0.0/install',
      payload: { dryRun: true, mode: 'canary', canaryFraction: 0.25 },
    });
    expect(res.statusCode, res.body).toBe(200);
    const { plan, preflight } = res.json<{ plan: InstallPlan; preflight: PreflightReport }>();
    expect(plan).toMatchObject({ from: '1.0.0', to: '2.0.0', direction: 'up', mode: 'canary', moves: 12 });
    expect(plan.steps.map((s) => [s.name, s.moves ?? null])).toEqual([
      ['load', null],
      ['check', null],
      ['preflight', null],
      ['point_of_no_return', null],
      ['move_canary', 3],
      ['await_promote', null],
      ['move_rest', 9],
      ['watch', null],
      ['make_current', null],
    ]);
    expect(plan.modules).toEqual([
      {
        module: 'worker',
        action: 'migrate',
        from: '1.0.0',
        to: '2.0.0',
        processes: 12,
        extra: { reshaped: true },
      },
    ]);
    expect(preflight).toMatchObject({ version: '2.0.0', from: '1.0.0', total: 12, failed: 0, failures: [] });
    await settleUntilQuiet(rt);
    expect(snapshot()).toEqual(before);
    expect(handler.progress).toBeNull();
  });

  it('the dry run is refused as the install would be', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/admin/releases/1.0.0/install',
      payload: { dryRun: true },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'HOT_ERR_BAD_REQUEST' });
  });

  it('`hotline install <v> --dry-run` prints the plan and the preflight, and changes nothing', async () => {
    const before = snapshot();
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/cli/main.ts',
        '--admin-url',
        url,
        '--token',
        't',
        'install',
        '2.0.0',
        '--dry-run',
      ],
      { cwd: root },
    );
    expect(stdout).toMatch(/^install 2\.0\.0 over 1\.0\.0 \(upgrade, full\): 12 processes to move\n/);
    expect(stdout).toMatch(/ {2}worker {2}migrate {4}1\.0\.0 → 2\.0\.0 {2}12 processes/);
    for (const [i, name] of FULL_STEPS.entries())
      expect(stdout).toContain(`${String(i + 1).padStart(2)}. ${name}`);
    expect(stdout).toContain('preflight: 12 process(es) dry-run, 0 failed; nothing was changed');
    await settleUntilQuiet(rt);
    expect(snapshot()).toEqual(before);
  }, 30_000);
});
