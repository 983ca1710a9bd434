/**
 * Signing keys for release artifacts (ed25519, node:crypto). A node trusts the public keys
 * it is configured with; for development a key pair is made in the data directory on first
 * use, and the node trusts it too.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hotlineErrorWithCause } from '../errors/catalogue.ts';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const devKeyPaths = (dataDir: string) => ({
  privateKey: join(dataDir, 'keys', 'release-signing.key.pem'),
  publicKey: join(dataDir, 'keys', 'release-signing.pub.pem'),
});

/** The development key pair of this data directory, made on first use. */
export function devKeyPair(dataDir: string): KeyPair {
  const paths = devKeyPaths(dataDir);
  if (!existsSync(paths.privateKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    writeFileSync(paths.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
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
