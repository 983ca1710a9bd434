/**
 * The Debian packages the suite drives for real: a headless browser for the report and
 * observer pages, Prometheus (the server and promtool) for the dashboards and metrics, and
 * the NATS server the cluster tests start. Run by `npm test` before anything else: as root it installs what is
 * missing; otherwise it stops with a message naming the packages. Tests never skip.
 */
import { execFileSync } from 'node:child_process';

/** Debian package → the command it provides. */
const PACKAGES: Record<string, string> = {
  chromium: 'chromium',
  prometheus: 'promtool',
  'nats-server': 'nats-server',
};

const has = (command: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const missing = Object.entries(PACKAGES)
  .filter(([, command]) => !has(command))
  .map(([pkg]) => pkg);

if (missing.length > 0) {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `The test suite needs these Debian packages: ${missing.join(', ')}.\n` +
        `Install them (as root: apt-get install -y ${missing.join(' ')}) and run npm test again.\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`installing Debian packages for the tests: ${missing.join(', ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}
