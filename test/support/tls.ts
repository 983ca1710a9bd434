/**
 * Self-signed certificates made at run time (the `selfsigned` package), never a committed key:
 * for 127.0.0.1 and localhost, as test nodes listen. Clients trust one by passing its `cert` as
 * their `ca`; give each certificate a test trusts at once its own subject, or the client finds
 * the wrong one as its issuer.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { generate } from 'selfsigned';
import { beforeAll } from 'vitest';

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

/** Two certificates a test switches between (distinct subjects), and the `ca` that trusts both. */
export async function twoCertificates(): Promise<{
  first: TestCertificate;
  second: TestCertificate;
  ca: string[];
}> {
  const [first, second] = await Promise.all([
    selfSignedCertificate('first'),
    selfSignedCertificate('second'),
  ]);
  return { first, second, ca: [first.cert, second.cert] };
}

/** twoCertificates() made once before the file's tests (vitest's beforeAll), read through the object. */
export function useTwoCertificates(): Awaited<ReturnType<typeof twoCertificates>> {
  const certs = {} as Awaited<ReturnType<typeof twoCertificates>>;
  beforeAll(async () => {
    Object.assign(certs, await twoCertificates());
  });
  return certs;
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

/** The SHA-256 fingerprint of the certificate a new TLS connection to `url` is shown. */
export function servedFingerprint(url: string, ca: string[]): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** GET over https trusting `ca`, with a bearer token if given. */
export function httpsGet(
  url: string,
  ca: string[],
  token?: string,
  /** JSON to POST instead of a GET. */
  post?: unknown,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const headers = {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(post === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const method = post === undefined ? 'GET' : 'POST';
    const req = request(url, { ca, headers, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.once('error', reject);
    req.end(post === undefined ? undefined : JSON.stringify(post));
  });
}
