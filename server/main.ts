/**
 * `npm start`: one node on the embedded defaults. Flags and HOTLINE_* environment variables
 * change them; SIGTERM or SIGINT shut it down gracefully.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { startNode } from './node/node.ts';
import { defaultSettings, type NodeSettings } from './node/settings.ts';

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

/** Repeated flags and comma-separated values add up to one list. */
const commaList = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value.split(',').filter(Boolean),
];

const d = defaultSettings;
/** A whole-number setting: its flag, environment variable and default. */
const intOption = (flag: string, env: string, help: string, value: number) =>
  new Option(`--${flag} <n>`, help).env(env).default(value).argParser(int);

const program = new Command('hotline-node')
  .description('Run one Hotline node: call sessions over WebSocket, with hot code upgrades')
  .addOption(new Option('--node <name>', 'node name, part of every pid').env('HOTLINE_NODE').default(d.node))
  .addOption(
    new Option('--host <host>', 'address for phones, health and metrics').env('HOTLINE_HOST').default(d.host),
  )
  .addOption(
    new Option('--port <n>', 'port for phones, health and metrics')
      .env('HOTLINE_PORT')
      .default(d.port)
      .argParser(int),
  )
  .addOption(
    new Option('--admin-host <host>', 'address of the admin surface')
      .env('HOTLINE_ADMIN_HOST')
      .default(d.adminHost),
  )
  .addOption(
    new Option('--admin-port <n>', 'port of the admin surface')
      .env('HOTLINE_ADMIN_PORT')
      .default(d.adminPort)
      .argParser(int),
  )
  .addOption(
    new Option('--data-dir <dir>', 'CDR log, admin token, releases')
      .env('HOTLINE_DATA_DIR')
      .default(d.dataDir),
  )
  .addOption(new Option('--log-level <level>', 'pino level').env('HOTLINE_LOG_LEVEL').default(d.logLevel))
  .addOption(
    new Option('--ring-timeout-ms <n>', 'unanswered calls end after this')
      .env('HOTLINE_RING_TIMEOUT_MS')
      .default(d.ringTimeoutMs)
      .argParser(int),
  )
  .addOption(
    new Option('--media-timeout-ms <n>', 'calls with no media end after this')
      .env('HOTLINE_MEDIA_TIMEOUT_MS')
      .default(d.mediaTimeoutMs)
      .argParser(int),
  )
  .addOption(
    new Option('--max-sessions <n>', 'connections refused beyond this')
      .env('HOTLINE_MAX_SESSIONS')
      .default(d.maxSessions)
      .argParser(int),
  )
  .addOption(
    new Option('--messages-per-second <n>', 'per-connection rate limit')
      .env('HOTLINE_MESSAGES_PER_SECOND')
      .default(d.messagesPerSecond)
      .argParser(int),
  )
  .addOption(
    intOption(
      'call-attempts',
      'HOTLINE_CALL_ATTEMPTS',
      'invites per user in any minute; 0 = no limit',
      d.callAttempts,
    ),
  )
  .addOption(
    intOption(
      'handshake-timeout-ms',
      'HOTLINE_HANDSHAKE_TIMEOUT_MS',
      'a connection with no complete first request (HTTP or WebSocket upgrade) is closed after this',
      d.handshakeTimeoutMs,
    ),
  )
  .addOption(
    intOption(
      'headers-timeout-ms',
      'HOTLINE_HEADERS_TIMEOUT_MS',
      "a request's headers must arrive within this",
      d.headersTimeoutMs,
    ),
  )
  .addOption(
    intOption(
      'request-timeout-ms',
      'HOTLINE_REQUEST_TIMEOUT_MS',
      'a whole request must arrive within this',
      d.requestTimeoutMs,
    ),
  )
  .addOption(
    intOption(
      'keep-alive-timeout-ms',
      'HOTLINE_KEEP_ALIVE_TIMEOUT_MS',
      'an idle keep-alive HTTP connection is closed after this',
      d.keepAliveTimeoutMs,
    ),
  )
  .addOption(
    intOption(
      'max-pending-connections',
      'HOTLINE_MAX_PENDING_CONNECTIONS',
      'connections not yet phones, per surface; new ones beyond are closed',
      d.maxPendingConnections,
    ),
  )
  .addOption(
    intOption(
      'max-pending-per-address',
      'HOTLINE_MAX_PENDING_PER_ADDRESS',
      'the same, from one source address',
      d.maxPendingPerAddress,
    ),
  )
  .addOption(
    intOption(
      'ping-interval-ms',
      'HOTLINE_PING_INTERVAL_MS',
      'each phone is pinged this often (0: never)',
      d.pingIntervalMs,
    ),
  )
  .addOption(
    intOption(
      'pong-timeout-ms',
      'HOTLINE_PONG_TIMEOUT_MS',
      'a phone that has not answered a ping within this is closed',
      d.pongTimeoutMs,
    ),
  )
  .addOption(
    new Option('--release <version>', 'boot this unpacked release instead of the permanent one').env(
      'HOTLINE_RELEASE',
    ),
  )
  .addOption(
    new Option('--cluster <nats-url>', 'join the cluster on this NATS server (alone without it)').env(
      'HOTLINE_CLUSTER',
    ),
  )
  .addOption(
    new Option('--trusted-key <pem...>', 'public keys whose signed releases this node installs')
      .env('HOTLINE_TRUSTED_KEYS')
      .default(d.trustedKeys)
      .argParser(commaList),
  )
  .addOption(
    new Option(
      '--allowed-origins <list>',
      'web origins whose pages may open phone connections (default: any)',
    )
      .env('HOTLINE_ALLOWED_ORIGINS')
      .default(d.allowedOrigins)
      .argParser(commaList),
  );

program.parse();
const o = program.opts<
  Omit<
    NodeSettings,
    'adminToken' | 'maxPayloadBytes' | 'burst' | 'maxBufferedBytes' | 'callAttemptWindowMs' | 'trustedKeys'
  > & {
    trustedKey: string[];
  }
>();
const { trustedKey, ...rest } = o;
const settings: NodeSettings = {
  ...d,
  ...rest,
  trustedKeys: trustedKey,
  adminToken: process.env.HOTLINE_ADMIN_TOKEN,
  burst: o.messagesPerSecond * 2,
};

const node = await startNode(settings);
node.publicApp.log.info(
  {
    calls: node.callsUrl,
    http: node.httpUrl,
    admin: node.adminUrl,
    recoveredCdrs: node.recovered,
    cluster: settings.cluster ?? null,
  },
  `node ${settings.node} up`,
);

// Ctrl-C under `npm start` arrives twice (from the terminal, and forwarded by npm): a
// repeat must not kill the node halfway through ending its calls and writing their CDRs.
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    node.publicApp.log.info(`${signal}: shutting down`);
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        node.publicApp.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
