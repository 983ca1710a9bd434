/** The `hotline` tool run as a user runs it, against a node's admin surface and data directory. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export interface CliTarget {
  adminUrl: string;
  dataDir: string;
}

/** Its exit code and output; `token` goes in HOTLINE_ADMIN_TOKEN. */
export async function hotlineCli(
  target: CliTarget,
  token: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/cli/main.ts',
        '--admin-url',
        target.adminUrl,
        '--data-dir',
        target.dataDir,
        ...args,
      ],
      { cwd: root, env: { ...process.env, HOTLINE_ADMIN_TOKEN: token } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
