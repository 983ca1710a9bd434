/**
 * The node's command line (`server/main.ts` loads it): one node on the embedded defaults.
 * Flags and HOTLINE_* environment variables change them; SIGTERM or SIGINT shut it down
 * gracefully; SIGHUP reloads the TLS certificate (server/http/tls-reload.ts); SIGUSR2 hands
 * the node to a successor process started from the same entry point (server/handoff), and
 * this one exits. `--successor` is how that successor is started: it boots without listening
 * and takes the node over from its parent.
 */
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { directSuccessor } from '../handoff/channel.ts';
import { keeperCopies, keeperSuccessor, underKeeper } from '../handoff/keeper-channel.ts';
import { servingNow } from '../handoff/serving.ts';
import { successorLine } from '../handoff/successor-line.ts';
import { greet, takeOver } from '../handoff/takeover.ts';
import { RELEASE_API_VERSION } from '../release/module.ts';
import { type HotlineNode, startNode } from './node.ts';
import { defaultSettings, type NodeSettings } from './settings.ts';

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
    intOption(
      'watchdog-ms',
      'HOTLINE_WATCHDOG_MS',
      'end the node (a supervisor restarts it) when its event loop has not turned for this long; 0 = off',
      d.watchdogMs,
    ),
  )
  .addOption(
    new Option(
      '--open-registration',
      'take registrations without a phone token: any name nobody holds (trusted labs only; warned at start)',
    )
      .env('HOTLINE_OPEN_REGISTRATION')
      .default(d.openRegistration),
  )
  .addOption(
    new Option(
      '--phone-keys <pem-or-dir...>',
      'public keys phone tokens may be signed with (files or directories)',
    )
      .env('HOTLINE_PHONE_KEYS')
      .default(d.phoneKeys)
      .argParser((value: string, previous: string[]) => [...previous, ...value.split(',').filter(Boolean)]),
  )
  .addOption(
    new Option('--phone-issuer <iss>', 'the issuer phone tokens must name')
      .env('HOTLINE_PHONE_ISSUER')
      .default(d.phoneIssuer),
  )
  .addOption(
    new Option('--phone-users <regexp>', 'only users matching this may register here (default: any)').env(
      'HOTLINE_PHONE_USERS',
    ),
  )
  .addOption(
    intOption(
      'cdr-segment-bytes',
      'HOTLINE_CDR_SEGMENT_BYTES',
      'the CDR log rolls to a new segment past this size (0: never by size)',
      d.cdrSegmentBytes,
    ),
  )
  .addOption(
    intOption(
      'cdr-segment-minutes',
      'HOTLINE_CDR_SEGMENT_MINUTES',
      '...or once its current segment is this old (0: never by age)',
      d.cdrSegmentMinutes,
    ),
  )
  .addOption(
    intOption(
      'cdr-retention-days',
      'HOTLINE_CDR_RETENTION_DAYS',
      'closed CDR segments older than this are deleted (0: kept forever)',
      d.cdrRetentionDays,
    ),
  )
  .addOption(
    intOption(
      'registration-failures',
      'HOTLINE_REGISTRATION_FAILURES',
      'failed registrations per source address in any minute, then its sockets are closed (1008)',
      d.registrationFailures,
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
    new Option('--pid-file <path>', 'write the serving pid here (a successor rewrites it)').env(
      'HOTLINE_PID_FILE',
    ),
  )
  .addOption(
    new Option('--tls-cert <pem>', 'serve wss:// and https:// with this certificate (chain), PEM').env(
      'HOTLINE_TLS_CERT',
    ),
  )
  .addOption(new Option('--tls-key <pem>', "the TLS certificate's private key, PEM").env('HOTLINE_TLS_KEY'))
  .addOption(
    new Option(
      '--successor',
      'started by a node handing itself over: take the node over from the parent process',
    ).hideHelp(),
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
    | 'adminToken'
    | 'maxPayloadBytes'
    | 'burst'
    | 'maxBufferedBytes'
    | 'callAttemptWindowMs'
    | 'trustedKeys'
    | 'registrationFailureWindowMs'
  > & {
    trustedKey: string[];
    successor?: boolean;
  }
>();
const { trustedKey, successor, ...rest } = o;
const settings: NodeSettings = {
  ...d,
  ...rest,
  trustedKeys: trustedKey,
  adminToken: process.env.HOTLINE_ADMIN_TOKEN,
  burst: o.messagesPerSecond * 2,
};

/** How this node starts its own successor (a successor can hand off in its turn). */
const launch = {
  spec: {
    nodeBinary: process.execPath,
    execArgv: process.execArgv,
    // Its sources' (a successor runs from a bundle of them: successor-build.ts).
    entry: fileURLToPath(new URL('../main.ts', import.meta.url)),
    args: [...process.argv.slice(2).filter((a) => a !== '--successor'), '--successor'],
  },
  // Under the keeper, the keeper spawns the successor, so it outlives this process there,
  // and holds a copy of each phone's socket to give it.
  ...(underKeeper() ? { start: keeperSuccessor, copies: keeperCopies() } : { start: directSuccessor }),
};

/** As a successor: hello, boot once welcomed, then receive the node; exits 1 if any of it fails. */
async function succeed(): Promise<HotlineNode> {
  const { parent, inbox, sockets } = successorLine();
  try {
    const welcome = await greet(parent, inbox, { node: settings.node, runtimeApi: RELEASE_API_VERSION });
    let node: HotlineNode;
    try {
      node = await startNode({ ...settings, release: welcome.release }, { successor: welcome, launch });
    } catch (err) {
      await parent.send({ type: 'failed', why: (err as Error).message });
      throw err;
    }
    await parent.send({ type: 'ready' });
    await takeOver(node.successor as NonNullable<HotlineNode['successor']>, parent, inbox, sockets);
    return node;
  } catch (err) {
    process.stderr.write(`successor: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

const node = successor ? await succeed() : await startNode(settings, { launch });
node.publicApp.log.info(
  {
    calls: node.callsUrl,
    http: node.httpUrl,
    admin: node.adminUrl,
    recoveredCdrs: node.recovered,
    cluster: settings.cluster ?? null,
  },
  `node ${settings.node} up${successor ? ` (took over from the old process, pid ${process.ppid})` : ''}`,
);
servingNow(settings.pidFile);

// SIGHUP is "read your configuration again" (the keeper passes it on): a new TLS certificate.
// It never stops the node, TLS or not.
process.on('SIGHUP', () => {
  if (node.tls === undefined) node.publicApp.log.info('SIGHUP: this node serves no TLS; nothing to reload');
  else node.tls.reload('SIGHUP');
});
process.on('SIGUSR2', () => {
  node.publicApp.log.info('SIGUSR2: handing the node to a successor process');
  node.handoff().then(
    (summary) => node.publicApp.log.info({ handoff: summary }, 'handed off'),
    (err: unknown) => node.publicApp.log.error({ err }, 'handoff failed; this node carries on'),
  );
});
// Handed off: everything is the successor's. Exit once the answers in flight (the admin
// route's summary) are sent: the surfaces close when their last connection does.
void node.handedOff.then(async () => {
  const deadline = Date.now() + settings.keepAliveTimeoutMs + 1000;
  const open = (server: Server) =>
    new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n ?? 0)));
  while (Date.now() < deadline) {
    const [a, b] = await Promise.all([open(node.publicApp.server), open(node.adminApp.server)]);
    if (a + b === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  process.exit(0);
});

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
