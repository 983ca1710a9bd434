/**
 * Signing keys (ed25519, node:crypto): for release artifacts, and for phone tokens
 * (server/http/phone-tokens.ts). A node trusts the public keys it is configured with; for
 * development a key pair of each kind is made in the data directory on first use, and the
 * node trusts it too.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hotlineErrorWithCause } from '../errors/catalogue.ts';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** What a development key signs: each use has its own key pair. */
export type KeyUse = 'release-signing' | 'phone-signing';

export const devKeyPaths = (dataDir: string, use: KeyUse = 'release-signing') => ({
  privateKey: join(dataDir, 'keys', `${use}.key.pem`),
  publicKey: join(dataDir, 'keys', `${use}.pub.pem`),
});

/** The development key pair of this data directory for `use`, made on first use. */
export function devKeyPair(dataDir: string, use: KeyUse = 'release-signing'): KeyPair {
  const paths = devKeyPaths(dataDir, use);
  if (!existsSync(paths.privateKey)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    // Written aside and linked into place: a node and a CLI starting at once on a fresh data
    // directory agree on one key (the second link fails and that side reads the first's).
    const aside = `${paths.privateKey}.${process.pid}`;
    writeFileSync(aside, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    try {
      linkSync(aside, paths.privateKey);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(aside, { force: true });
    }
    const publicKey = createPublicKey(createPrivateKey(readFileSync(paths.privateKey)));
    writeFileSync(paths.publicKey, publicKey.export({ type: 'spki', format: 'pem' }));
  }
  const privateKey = createPrivateKey(readFileSync(paths.privateKey));
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Public keys from PEM files. */
export function readPublicKeys(paths: string[]): KeyObject[] {
  return paths.map((path) => {
    try {
      return createPublicKey(readFileSync(path));
    } catch (err) {
      throw hotlineErrorWithCause(err, 'HOT_ERR_BAD_CONFIG', `cannot read public key ${path}`);
    }
  });
}

/** A short stable name for a public key: the start of the sha256 of its DER form. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}
