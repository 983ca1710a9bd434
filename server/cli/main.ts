/**
 * `hotline`: the release tool. `release build` bundles and signs a release from its sources
 * into the data directory; every other command talks to a running node's admin API.
 *
 *   npm run hotline -- release build 1.1.0
 *   npm run hotline -- release upload data/artifacts/hotline-1.1.0.release.json
 *   npm run hotline -- install 1.1.0 [--canary 0.05] [--watch 30s] [--dry-run] [--force]
 *   npm run hotline -- promote | rollback | status | release list | release permanent 1.1.0
 *   npm run hotline -- cluster upgrade 1.1.0 [--artifact <file>] [--watch 10s] | cluster status
 *   npm run hotline -- phone-token alice [--ttl 1h] [--key <private.pem>]
 *   npm run hotline -- node handoff [--entry <file>] [--node-binary <path>]
 *   npm run hotline -- admin-token create ci --scope read | admin-token revoke ci | admin-token list | audit
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import { issuePhoneToken } from '../http/phone-tokens.ts';
import { defaultSettings } from '../node/settings.ts';
import { AdminClient } from '../ops/admin-client.ts';
import { buildRelease } from '../release/build.ts';
import type { PreflightReport } from '../release/handler.ts';
import type { InstallProgress } from '../release/installer.ts';
import { devKeyPair } from '../release/keys.ts';
import { formatPlan, type InstallPlan } from '../release/plan.ts';
import { checkVersion } from '../release/version.ts';
import { addAdminCommands } from './admin-commands.ts';
import { duration, fraction, print, wholeNumber } from './arguments.ts';
import { addClusterCommands, isUsageError } from './cluster-commands.ts';

const releasesDir = fileURLToPath(new URL('../calls/releases', import.meta.url));

const program = new Command('hotline').description('Hotline releases: build, upload, install, roll back');
// Bad usage exits 2 (commander has printed why; see the catch at the end). Set before any
// subcommand is added: subcommands copy it when they are made.
program.exitOverride();
const dataDirOption = () =>
  new Option('--data-dir <dir>', 'the node data directory')
    .env('HOTLINE_DATA_DIR')
    .default(defaultSettings.dataDir);
program
  .addOption(
    new Option('--admin-url <url>', "the node's admin surface")
      .env('HOTLINE_ADMIN_URL')
      .default(`http://${defaultSettings.adminHost}:${defaultSettings.adminPort}`),
  )
  .addOption(
    new Option('--token <token>', 'admin bearer token (default: the data directory admin-token)').env(
      'HOTLINE_ADMIN_TOKEN',
    ),
  )
  .addOption(dataDirOption());

function access(): { adminUrl: string; token: string; dataDir: string } {
  const o = program.opts<{ adminUrl: string; token?: string; dataDir: string }>();
  const token = o.token ?? readFileSync(join(o.dataDir, 'admin-token'), 'utf8').trim();
  return { adminUrl: o.adminUrl, token, dataDir: o.dataDir };
}

function client(): AdminClient {
  const { adminUrl, token } = access();
  return new AdminClient(adminUrl, token);
}

const release = program.command('release').description('release artifacts');
release
  .command('build <version>')
  .description('bundle server/calls/releases/<version> and sign it with the data directory key')
  .option('--out <dir>', 'where the artifact goes (default: <data-dir>/artifacts)')
  .action(async (version: string, opts: { out?: string }) => {
    checkVersion(version);
    const { dataDir } = program.opts<{ dataDir: string }>();
    const { artifact, path } = await buildRelease({
      entry: join(releasesDir, version, 'index.ts'),
      version,
      name: 'hotline-calls',
      keys: devKeyPair(dataDir),
      outDir: opts.out ?? join(dataDir, 'artifacts'),
    });
    print({ path, manifest: artifact.manifest, keyId: artifact.keyId });
  });
release
  .command('upload <file>')
  .description('send an artifact to the node, which verifies and unpacks it')
  .action(async (file: string) =>
    print(await client().post('/admin/releases', JSON.parse(readFileSync(file, 'utf8')))),
  );
release
  .command('list')
  .description('current, permanent, old and unpacked releases')
  .action(async () => print(await client().get('/admin/releases')));
release
  .command('permanent <version>')
  .description('the release a restarted node boots')
  .action(async (version: string) =>
    print(await client().post(`/admin/releases/${encodeURIComponent(version)}/permanent`)),
  );
release
  .command('remove <version>')
  .description('delete an unpacked release nothing uses')
  .action(async (version: string) => {
    await client().delete(`/admin/releases/${encodeURIComponent(version)}`);
    print({ removed: version });
  });

/** Follow an install with a progress bar until it ends or waits for a canary decision. */
async function follow(admin: AdminClient): Promise<InstallProgress> {
  const bar = new SingleBar({
    format: ' {step} |{bar}| {value}/{total} sessions moved | {releases}',
    hideCursor: true,
    clearOnComplete: false,
    // Piped (CI, logs): still print the bar, a line at a time.
    noTTYOutput: true,
    notTTYSchedule: 500,
  });
  let started = false;
  let last: InstallProgress | null = null;
  for await (const p of admin.installEvents()) {
    last = p;
    const payload = {
      // The plan's step running, as "5/7 move".
      step: `${p.steps.indexOf(p.step) + 1}/${p.steps.length} ${p.step}`.padEnd(22),
      releases: Object.entries(p.processes)
        .map(([v, n]) => `${v}: ${n}`)
        .join(', '),
    };
    if (!started) {
      bar.start(Math.max(p.total, 1), p.moved, payload);
      started = true;
    }
    bar.setTotal(Math.max(p.total, 1));
    bar.update(p.moved, payload);
    if (p.phase === 'canary') break;
  }
  bar.stop();
  if (last === null) throw new Error('the node reported no install');
  return last;
}

function conclude(p: InstallProgress): void {
  print({ outcome: p.outcome ?? p.phase, reason: p.reason, failures: p.failures, phases: p.phases });
  if (p.outcome !== 'installed' && p.phase !== 'canary') process.exitCode = 1;
}

/** The plan as text, then what its preflight found; a failed preflight exits 1. */
function printDryRun(plan: InstallPlan, preflight: PreflightReport): void {
  const { total, failed, failures } = preflight;
  process.stdout.write(formatPlan(plan));
  process.stdout.write(
    `preflight: ${total} process(es) dry-run, ${failed} failed${failed === 0 ? '' : ' (an install would abort)'}; nothing was changed\n`,
  );
  for (const f of failures) process.stdout.write(`  ${f.pid} ${f.module}: ${f.error}\n`);
  if (failed > 0) process.exitCode = 1;
}

program
  .command('install <version>')
  .description('hot-install an unpacked release on the running node')
  .option(
    '--canary <fraction>',
    'move this share of sessions first, then wait for promote or rollback',
    fraction,
  )
  .option(
    '--watch <duration>',
    'watch window after the commit: 30s, 500ms, 2m (a bare number is ms)',
    duration,
  )
  .option('--max-crashes <n>', 'crashes on the new release tolerated during the watch', wholeNumber)
  .option('--max-errors <n>', 'errors reported on the new release tolerated during the watch', wholeNumber)
  .option(
    '--max-error-rate <fraction>',
    'and more errors tolerated: this many per process that ran the new release',
    fraction,
  )
  .option('--no-wait', 'return once the install has started')
  .option('--dry-run', "print the install's plan and run its preflight; change nothing")
  .option('--force', 'install a release the watchdog marked as refused')
  .action(
    async (
      version: string,
      opts: {
        canary?: number;
        watch?: number;
        maxCrashes?: number;
        maxErrors?: number;
        maxErrorRate?: number;
        wait: boolean;
        dryRun?: boolean;
        force?: boolean;
      },
    ) => {
      const admin = client();
      const { canary, watch, maxCrashes, maxErrors, maxErrorRate } = opts;
      const body = {
        ...(canary === undefined ? {} : { mode: 'canary', canaryFraction: canary }),
        ...(watch === undefined ? {} : { watchMs: watch }),
        ...(maxCrashes === undefined ? {} : { maxCrashes }),
        ...(maxErrors === undefined ? {} : { maxErrors }),
        ...(maxErrorRate === undefined ? {} : { maxErrorRate }),
      };
      const path = `/admin/releases/${encodeURIComponent(version)}/install`;
      if (opts.dryRun === true) {
        const dry = await admin.post<{ plan: InstallPlan; preflight: PreflightReport }>(path, {
          ...body,
          dryRun: true,
        });
        printDryRun(dry.plan, dry.preflight);
        return;
      }
      const started = await admin.post<{ install: InstallProgress }>(
        path,
        opts.force === true ? { ...body, force: true } : body,
      );
      conclude(opts.wait ? await follow(admin) : started.install);
    },
  );
program
  .command('promote')
  .description('move every session to the canary release, then watch')
  .action(async () => {
    const admin = client();
    await admin.post('/admin/install/promote');
    conclude(await follow(admin));
  });
program
  .command('rollback')
  .description('move every session back to the release it was on')
  .action(async () =>
    conclude((await client().post<{ install: InstallProgress }>('/admin/install/rollback')).install),
  );
program
  .command('status')
  .description('the running (or last) install')
  .action(async () => print(await client().get('/admin/install')));

program
  .command('phone-token <user>')
  .description(
    "print a phone token for <user>, signed with the data directory's phone key (made on first use)",
  )
  .option('--ttl <duration>', 'how long it is valid: 1h, 15m, 30s (a bare number is ms)', duration, 3_600_000)
  .option('--key <pem>', 'sign with this private key instead (key rotation)')
  .option('--issuer <iss>', 'the issuer it names', defaultSettings.phoneIssuer)
  .action(async (user: string, opts: { ttl: number; key?: string; issuer: string }) => {
    const { dataDir } = program.opts<{ dataDir: string }>();
    const privateKey = opts.key === undefined ? undefined : createPrivateKey(readFileSync(opts.key));
    const token = await issuePhoneToken(dataDir, user, opts.ttl, {
      issuer: opts.issuer,
      ...(privateKey === undefined ? {} : { privateKey }),
    });
    process.stdout.write(`${token}\n`);
  });

addClusterCommands(program, access);
addAdminCommands(program, client);

program
  .command('node')
  .description('the running node itself')
  .command('handoff')
  .description(
    "replace the running node's process with a successor started from --entry, with no call dropped; prints the summary",
  )
  .option('--entry <file>', "the successor's entry point (default: the node's own)")
  .option('--node-binary <path>', "the Node.js binary that runs it (default: the node's own)")
  .action(async (opts: { entry?: string; nodeBinary?: string }) => {
    const { adminUrl, token } = access();
    // The answer comes when the handoff ends: a successor boots first, which takes seconds.
    const request = { ...opts, ...(opts.entry === undefined ? {} : { entry: resolve(opts.entry) }) };
    print(await new AdminClient(adminUrl, token, 300_000).post('/admin/node/handoff', request));
  });

await program.parseAsync().catch((err: unknown) => {
  // --help and --version exit 0.
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`hotline: ${(err as Error).message}\n`);
  process.exitCode = isUsageError(err) ? 2 : 1;
});
