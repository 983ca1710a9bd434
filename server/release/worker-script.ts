/**
 * A worker thread's script, bundled with esbuild from its TypeScript entry and what it
 * imports, once per node process: a worker that evaluates one script starts several times
 * faster than one that registers tsx and imports each module through it, and needs none of
 * the node's flags.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The script of `entry`, built on first call; a failed build is not remembered, the next call tries again. */
export function bundledWorkerScript(entry: URL): () => Promise<string> {
  let script: Promise<string> | undefined;
  return () => {
    script ??= build({
      entryPoints: [fileURLToPath(entry)],
      bundle: true,
      platform: 'node',
      target: 'node20',
      // A function scope of its own: a worker's eval script shares the scope of Node's globals.
      format: 'iife',
      write: false,
      logLevel: 'silent',
    }).then((out) => out.outputFiles[0]?.text ?? '');
    script.catch(() => {
      script = undefined;
    });
    return script;
  };
}
