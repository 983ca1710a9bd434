/**
 * `hotline admin-token create <name> --scope read|operate` (prints the secret, the one time it
 * is shown), `admin-token revoke <name>`, `admin-token list`, and `hotline audit` (the newest
 * entries of the node's audit trail). All go through the admin API, so the node records them.
 */
import { type Command, Option } from 'commander';
import { SCOPES } from '../http/admin-tokens.ts';
import type { AdminClient } from '../ops/admin-client.ts';
import { print, wholeNumber } from './arguments.ts';

export function addAdminCommands(program: Command, client: () => AdminClient): void {
  const tokens = program.command('admin-token').description('named admin tokens, each with a scope');
  tokens
    .command('create <name>')
    .description('make a token; its secret is printed once and never stored')
    .addOption(new Option('--scope <scope>', 'what it may do').choices(SCOPES).makeOptionMandatory())
    .action(async (name: string, opts: { scope: string }) =>
      print(await client().post('/admin/tokens', { name, scope: opts.scope })),
    );
  tokens
    .command('revoke <name>')
    .description('refuse the token from now on, and end the observer sessions it signed in')
    .action(async (name: string) => {
      await client().delete(`/admin/tokens/${encodeURIComponent(name)}`);
      print({ revoked: name });
    });
  tokens
    .command('list')
    .description('the tokens, their scopes and when they were made (never their secrets)')
    .action(async () => print(await client().get('/admin/tokens')));

  program
    .command('audit')
    .description('the admin changes the node recorded, newest first')
    .option('--limit <n>', 'how many entries', wholeNumber, 50)
    .option('--offset <n>', 'skip this many of the newest', wholeNumber, 0)
    .action(async (opts: { limit: number; offset: number }) =>
      print(await client().get(`/admin/audit?limit=${opts.limit}&offset=${opts.offset}`)),
    );
}
