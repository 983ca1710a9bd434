/**
 * TLS on both surfaces (`--tls-cert`, `--tls-key`): the certificate and key, read from their
 * PEM files and checked together before anything uses them. A pair OpenSSL refuses (a file
 * half-written, a key that is not the certificate's, not PEM at all) is
 * HOT_ERR_TLS_CERTIFICATE_INVALID: a node does not start with it, and a reload
 * (tls-reload.ts) keeps the certificate it has.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { hotlineError } from '../errors/catalogue.ts';

/** Where the certificate (chain) and its private key are, as PEM files. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** What a TLS server is made with, and what `setSecureContext` takes. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The settings' files, or undefined for plain HTTP; one without the other is refused. */
export function tlsFiles(s: {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}): TlsFiles | undefined {
  if (s.tlsCert === undefined && s.tlsKey === undefined) return undefined;
  if (s.tlsCert === undefined || s.tlsKey === undefined)
    throw hotlineError(
      'HOT_ERR_TLS_CERTIFICATE_INVALID',
      s.tlsCert ?? '(none)',
      s.tlsKey ?? '(none)',
      '--tls-cert and --tls-key go together',
    );
  return { cert: s.tlsCert, key: s.tlsKey };
}

/** Read both files and check that OpenSSL takes them as a pair. */
export function readTlsPair(files: TlsFiles): TlsPair {
  try {
    const pair = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
    // Parses both and checks that the key is the certificate's (what a server would do on its first handshake).
    createSecureContext(pair);
    return pair;
  } catch (err) {
    throw hotlineError('HOT_ERR_TLS_CERTIFICATE_INVALID', files.cert, files.key, (err as Error).message);
  }
}

/** The SHA-256 fingerprint of the pair's (first) certificate, as clients show it (`AB:CD:…`). */
export function fingerprint(pair: TlsPair): string {
  return new X509Certificate(pair.cert).fingerprint256;
}
