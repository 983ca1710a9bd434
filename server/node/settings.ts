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
  /** The CDR log rolls to a new segment past this size or age; 0 = never by that measure. */
  cdrSegmentBytes: number;
  cdrSegmentMinutes: number;
  /** Closed CDR segments older than this are deleted; 0 = kept forever. */
  cdrRetentionDays: number;
  /** PEM files of public keys whose signed releases this node installs (its dev key is trusted too). */
  trustedKeys: string[];
  /** Take registrations without a phone token (trusted labs only): the register frame's user is believed. */
  openRegistration: boolean;
  /** Public keys (PEM files, or directories of them) phone tokens may be signed with; the data directory's phone key is trusted too. */
  phoneKeys: string[];
  /** The issuer phone tokens must name. */
  phoneIssuer: string;
  /** A regular expression the token's user must match to register here; undefined: any user name. */
  phoneUsers: string | undefined;
  /** Failed registrations per source address in any window, then the socket is closed (1008). */
  registrationFailures: number;
  registrationFailureWindowMs: number;
  /** Boot this unpacked release instead of the permanent one (what a restart deploy does). */
  release: string | undefined;
  /** Web origins whose pages may open phone connections (checked when a browser sends one); empty: any. */
  allowedOrigins: string[];
  /** NATS URL of the cluster to join; undefined: the node runs alone and needs no NATS. */
  cluster: string | undefined;
  /** The node ends when its event loop has not turned for this long (watchdog.ts); 0 = no watchdog. */
  watchdogMs: number;
  /** Where the serving node writes its pid (a successor rewrites it when it takes over). */
  pidFile: string | undefined;
  /** PEM files of the certificate (chain) and its key: both surfaces serve TLS; undefined: plain. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
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
  // A segment of about 200,000 CDRs; one a day at least, so a day is a few files.
  cdrSegmentBytes: 64 * 1024 * 1024,
  cdrSegmentMinutes: 24 * 60,
  // CDRs are billing records: deleting them is the operator's decision, never a default.
  cdrRetentionDays: 0,
  trustedKeys: [],
  openRegistration: false,
  phoneKeys: [],
  phoneIssuer: 'hotline',
  phoneUsers: undefined,
  registrationFailures: 10,
  registrationFailureWindowMs: 60_000,
  release: undefined,
  allowedOrigins: [],
  cluster: undefined,
  watchdogMs: 5_000,
  pidFile: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
};
