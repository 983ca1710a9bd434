/** Another checkout of the project: a copy of the tree with some files patched, to start a successor from. */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface Checkout {
  /** Its server/main.ts: a successor's entry. */
  entry: string;
  remove(): void;
}

/** Copy server/ (and what it needs to run) and apply `patches`: file → [text, replacement]; each must match. */
export function patchedCheckout(patches: Record<string, [string, string]>): Checkout {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-checkout-'));
  cpSync(join(repoRoot, 'server'), join(dir, 'server'), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json']) cpSync(join(repoRoot, file), join(dir, file));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  for (const [file, [text, replacement]] of Object.entries(patches)) {
    const path = join(dir, file);
    const source = readFileSync(path, 'utf8');
    if (!source.includes(text)) throw new Error(`${file} has no ${JSON.stringify(text)} to patch`);
    writeFileSync(path, source.replace(text, replacement));
  }
  return {
    entry: join(dir, 'server', 'main.ts'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
