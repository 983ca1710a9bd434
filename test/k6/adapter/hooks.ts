/**
 * The module resolution a VU thread runs with: `k6` and the `k6/*` modules this adapter
 * provides resolve to its files; any other `k6/*` module fails loudly, so a script that starts
 * using one breaks the test until the adapter grows it. The hook is plain JavaScript in a
 * data: URL, so the loader thread needs no TypeScript support to run it.
 */

const PROVIDED: Record<string, string> = {
  k6: './k6.ts',
  'k6/http': './k6-http.ts',
  'k6/metrics': './k6-metrics.ts',
  'k6/timers': './k6-timers.ts',
  'k6/websockets': './k6-websockets.ts',
};

export function k6Modules(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(PROVIDED).map(([name, file]) => [name, new URL(file, import.meta.url).href]),
  );
}

export function resolveHookUrl(): string {
  const source = `
const modules = ${JSON.stringify(k6Modules())};
export async function resolve(specifier, context, next) {
  // Through the next hook (tsx's), which marks the .ts file as one it loads.
  if (Object.hasOwn(modules, specifier)) return next(modules[specifier], context);
  if (specifier === 'k6' || specifier.startsWith('k6/'))
    throw new Error('the k6 adapter (test/k6/adapter) does not provide ' + specifier);
  return next(specifier, context);
}
`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}
