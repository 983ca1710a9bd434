/**
 * Self-signed certificates made at run time (the `selfsigned` package), never a committed key:
 * for 127.0.0.1 and localhost, as test nodes listen. Clients trust one by passing its `cert` as
 * their `ca`.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
  /** SHA-256, as a TLS peer certificate's `fingerprint256` reads. */
  readonly fingerprint: string;
}

export async function selfSignedCertificate(commonName = 'localhost'): Promise<TestCertificate> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** Write a certificate's two PEM files into `dir` (as `cert.pem` and `key.pem` unless named). */
export function writeCertificate(
  dir: string,
  c: Pick<TestCertificate, 'cert' | 'key'>,
  names = { cert: 'cert.pem', key: 'key.pem' },
): { tlsCert: string; tlsKey: string } {
  const files = { tlsCert: join(dir, names.cert), tlsKey: join(dir, names.key) };
  writeFileSync(files.tlsCert, c.cert);
  writeFileSync(files.tlsKey, c.key, { mode: 0o600 });
  return files;
}
