// k6 gives every script a console (log, info, warn, error, debug); @types/k6 does not declare
// it, and this folder loads neither the DOM lib nor Node's types that would.
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
