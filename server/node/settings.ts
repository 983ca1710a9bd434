/** Everything a node can be told, with the embedded defaults `npm start` runs on. */
import { fileURLToPath } from 'node:url';
import type { ConnectionLimits } from '../http/connection-guard.ts';

export interface NodeSettings extends ConnectionLimits {
  node: string;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  dataDir: string;
  /** From HOTLINE_ADMIN_TOKEN; otherwise made at first start and kept in the data directory. */
  adminToken: string | undefined;
  logLevel: string;
  ringTimeoutMs: number;
  mediaTimeoutMs: number;
  maxSessions: number;
  maxPayloadBytes: number;
  messagesPerSecond: number;
  burst: number;
  maxBufferedBytes: number;
  /** Invites per user per call-attempt window (a minute outside tests); 0 = no limit. */
  callAttempts: number;
  callAttemptWindowMs: number;
  /** Each phone is pinged this often (0: never) and closed when it has not answered within pongTimeoutMs. */
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** PEM files of public keys whose signed releases this node installs (its dev key is trusted too). */
  trustedKeys: string[];
  /** Boot this unpacked release instead of the permanent one (what a restart deploy does). */
  release: string | undefined;
  /** Web origins whose pages may open phone connections (checked when a browser sends one); empty: any. */
  allowedOrigins: string[];
  /** NATS URL of the cluster to join; undefined: the node runs alone and needs no NATS. */
  cluster: string | undefined;
}

export const defaultSettings: NodeSettings = {
  node: 'hotline',
  host: '127.0.0.1',
  port: 8080,
  adminHost: '127.0.0.1',
  adminPort: 8081,
  dataDir: fileURLToPath(new URL('../../data', import.meta.url)),
  adminToken: undefined,
  logLevel: 'info',
  ringTimeoutMs: 30_000,
  mediaTimeoutMs: 20_000,
  // This machine allows 20,000 open files per process; leave room for everything else.
  maxSessions: 19_000,
  maxPayloadBytes: 16 * 1024,
  messagesPerSecond: 200,
  burst: 400,
  maxBufferedBytes: 256 * 1024,
  callAttempts: 60,
  callAttemptWindowMs: 60_000,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  // Room for a 16 MB release upload on a slow link.
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxPendingConnections: 1_000,
  maxPendingPerAddress: 50,
  pingIntervalMs: 20_000,
  pongTimeoutMs: 10_000,
  trustedKeys: [],
  release: undefined,
  allowedOrigins: [],
  cluster: undefined,
};
