/**
 * A new certificate without a restart: on SIGHUP (main.ts) and whenever the certificate or
 * key file changes, the pair is read again, checked (tls.ts) and given to every TLS server
 * with `setSecureContext`. Connections already up keep the session they negotiated; new
 * ones get the new certificate. A pair that fails the check (a file caught half-written, a
 * key that is not the certificate's) is refused and the certificate in use stays; the next
 * change of either file tries again, so a renewal that writes the two files one after the
 * other ends with the new pair in use.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Server } from 'node:tls';
import type { HotlineError } from '../errors/catalogue.ts';
import { fingerprint, readTlsPair, type TlsFiles } from './tls.ts';

/** Changes closer together than this are one change (a renewal writes two files, often in steps). */
const DEBOUNCE_MS = 250;

export interface TlsReloadHooks {
  /** The new pair is in use; its certificate's SHA-256 fingerprint. */
  reloaded(fingerprint: string, why: string): void;
  /** The pair was refused (HOT_ERR_TLS_CERTIFICATE_INVALID); the one in use stays. */
  refused(error: HotlineError, why: string): void;
}

export class TlsReloader {
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly files: TlsFiles,
    readonly servers: readonly Server[],
    readonly hooks: TlsReloadHooks,
  ) {}

  /** Read the pair and put it in use; false (and the old pair kept) when it is refused. */
  reload(why: string): boolean {
    let pair: ReturnType<typeof readTlsPair>;
    try {
      pair = readTlsPair(this.files);
    } catch (err) {
      this.hooks.refused(err as HotlineError, why);
      return false;
    }
    for (const server of this.servers) server.setSecureContext(pair);
    this.hooks.reloaded(fingerprint(pair), why);
    return true;
  }

  /**
   * Reload when either file changes. The directories are watched, not the files: a renewal
   * tool that writes a new file and renames it over the old one (certbot's symlinks, Kubernetes
   * secrets) replaces the inode a file watch would follow.
   */
  watch(): void {
    const byDir = new Map<string, Set<string>>();
    for (const file of [this.files.cert, this.files.key]) {
      const dir = dirname(resolve(file));
      byDir.set(dir, (byDir.get(dir) ?? new Set()).add(basename(file)));
    }
    for (const [dir, names] of byDir) {
      const watcher = watch(dir, (_event, name) => {
        // Some platforms give no name: any change there may be ours.
        if (name === null || names.has(name)) this.#changed();
      });
      watcher.on('error', () => {
        // The directory went away: SIGHUP still reloads.
      });
      this.#watchers.push(watcher);
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers.splice(0)) w.close();
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.reload('file changed'), DEBOUNCE_MS);
    this.#timer.unref();
  }
}
