/**
 * A Hotline node: the runtime, the call layer's modules, the supervision tree and the two
 * HTTP surfaces, wired together. This is the composition root; the pieces it joins do not
 * know each other.
 *
 *   application
 *   └─ top (supervisor, one_for_one)
 *      ├─ cdr_journal        the CDR log
 *      ├─ ports              dynamic supervisor: one port per WebSocket
 *      └─ sessions           dynamic supervisor: one session per phone
 *
 * Shutdown runs in reverse: sessions end their calls (CDRs written), ports close their
 * sockets with 1001, the journal flushes and closes the log, and the node leaves its
 * cluster (if it is in one: server/cluster) once its last messages to other nodes are out.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { countPhases, createJournal, type JournalState } from '../calls/cdr/journal.ts';
import { type ClaimCdr, claimAlone, queryCdrs, recoverLog } from '../calls/cdr/log.ts';
import { JOURNAL, type Release, type SessionArgs, userName } from '../calls/contract.ts';
import { ClientProtocol } from '../calls/protocol/codec.ts';
import { builtInRelease } from '../calls/releases/built-in.ts';
import { additionsOf } from '../calls/releases/index.ts';
import { type Cluster, joinCluster } from '../cluster/cluster.ts';
import { AdminTokens } from '../http/admin-tokens.ts';
import { adminRoutes, createFastify, publicRoutes } from '../http/app.ts';
import { AuditLog } from '../http/audit-log.ts';
import { installAuditTrail } from '../http/audit-trail.ts';
import { installAdminAuth, resolveAdminToken } from '../http/auth.ts';
import { guardConnections } from '../http/connection-guard.ts';
import { attachGateway, type Gateway } from '../http/gateway.ts';
import { ObserverFeed } from '../http/observer-feed.ts';
import { observerRoutes } from '../http/observer-routes.ts';
import { ObserverSessions } from '../http/observer-session.ts';
import { createPort } from '../http/port.ts';
import { releaseRoutes } from '../http/release-routes.ts';
import { tokenRoutes } from '../http/token-routes.ts';
import { ReleaseHandler } from '../release/handler.ts';
import { devKeyPair, readPublicKeys } from '../release/keys.ts';
import { type Clock, type Pid, Runtime } from '../runtime/index.ts';
import { createMetrics, type NodeMetrics } from './metrics/index.ts';
import type { NodeSettings } from './settings.ts';

export interface HotlineNode {
  settings: NodeSettings;
  rt: Runtime;
  metrics: NodeMetrics;
  releases: ReleaseHandler<Release>;
  /** The phone protocol the front door accepts: the base, plus what the loaded releases added. */
  protocol: ClientProtocol;
  publicApp: FastifyInstance;
  adminApp: FastifyInstance;
  gateway: Gateway;
  /** ws://host:port/calls */
  callsUrl: string;
  httpUrl: string;
  adminUrl: string;
  adminToken: string;
  /** The cluster joined with settings.cluster; undefined when the node runs alone. */
  cluster: Cluster | undefined;
  /** CDRs written at start for calls that were up when the node last died. */
  recovered: number;
  /** Graceful: stop accepting, end calls with their CDRs, close sockets (1001), flush. */
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** false in tests; otherwise pino at settings.logLevel. */
  logger?: boolean;
  release?: Release;
}

export async function startNode(settings: NodeSettings, options: StartOptions = {}): Promise<HotlineNode> {
  const startedAt = Date.now();
  const journalPath = join(settings.dataDir, 'cdr.log');
  const metrics = createMetrics(settings.node);
  const rt = new Runtime({
    node: settings.node,
    ...(options.clock ? { clock: options.clock } : {}),
    turnObserver: metrics.sessionTurn,
  });
  const sockets = new Map<number, WebSocket>();
  let cluster: Cluster | undefined;

  const protocol = new ClientProtocol();
  const releases = new ReleaseHandler<Release>({
    rt,
    dataDir: settings.dataDir,
    // The built-in release runs from its locked bundle, as an uploaded release runs from its artifact.
    baseline: options.release ?? (await builtInRelease(settings.dataDir)),
    trustedKeys: [devKeyPair(settings.dataDir).publicKey, ...readPublicKeys(settings.trustedKeys)],
    hooks: metrics.release,
    // The other nodes, once joined below: an install must interoperate with what each runs.
    others: () => cluster?.nodes() ?? [],
    check: (r) => protocol.problem(additionsOf(r)),
    // The front door accepts a release's new messages once the node has loaded it.
    loaded: (r) => protocol.learn(additionsOf(r)),
    // Called on a later turn of the event loop than this one, when publicApp exists.
    historyWriteFailed: (err, event) => publicApp.log.error({ err, event }, err.message),
    // Told at once, not at the next beat: an install on another node is checked against it.
    declaredChanged: () => cluster?.membership.announce(),
  });
  // A restarted node boots its permanent release.
  for (const b of (await releases.boot(settings.release)).behaviours) rt.modules.load(b);
  const logger = options.logger === false ? false : { level: settings.logLevel };
  const publicApp = createFastify({ logger, connections: settings });
  const adminApp = createFastify({ logger: false, loggerInstance: publicApp.log, connections: settings });
  const connectionHooks = {
    refused: metrics.connectionRefused,
    handshakeTimedOut: metrics.handshakeTimedOut,
  };
  const guard = guardConnections(publicApp, settings, connectionHooks);
  guardConnections(adminApp, settings, connectionHooks);
  // Join before phones can register (their users go into the cluster's directory), and
  // before recovery: a call that was up may have its CDR from a surviving node already.
  const where: { callsUrl?: string; httpUrl?: string; adminUrl?: string } = {};
  cluster =
    settings.cluster === undefined
      ? undefined
      : await joinCluster({
          url: settings.cluster,
          rt,
          declared: () => releases.declared,
          where: () => where,
          covers: (name) => name.startsWith(userName('')),
          onMember: (event, node) => publicApp.log.info({ node }, `cluster: node ${node} ${event}`),
          onRefused: (why, from, release) => {
            metrics.clusterRefused(why);
            publicApp.log.warn({ why, from, release }, 'cluster: a message from another node was refused');
          },
          onClaimWait: (key, err) =>
            publicApp.log.warn({ key, err }, 'cluster: a claim waits for NATS to answer; retrying'),
        });
  const claim: ClaimCdr =
    cluster === undefined ? claimAlone : (id, token) => cluster.claims.claim(`cdr.${id}`, token);
  const recovered = await recoverLog(journalPath, settings.node, claim);
  rt.modules.load(createJournal({ answered: metrics.answered, ended: metrics.ended }, claim));
  rt.modules.load(
    createPort(
      sockets,
      {
        sent: metrics.sent,
        errorSent: metrics.protocolError,
        // Ports answer only once the gateway below exists: they start with connections.
        registration: (socket, user) => gateway.registration(socket, user),
      },
      settings.maxBufferedBytes,
    ),
  );

  const app = rt.spawn('application', {
    strategy: 'one_for_one',
    intensity: 10,
    periodMs: 10_000,
    children: [
      { id: JOURNAL, start: { module: JOURNAL, args: { path: journalPath } } },
      {
        id: 'ports',
        type: 'supervisor',
        start: { module: 'dynamic_supervisor', args: { module: 'port', name: 'ports' } },
      },
      {
        id: 'sessions',
        type: 'supervisor',
        start: {
          module: 'dynamic_supervisor',
          args: { module: 'session', name: 'sessions', shutdown: 5000 },
        },
      },
    ],
  });
  const openCalls = () => {
    const journal = rt.whereis(JOURNAL);
    const state = journal === undefined ? undefined : (rt.sys.getState(journal) as JournalState | undefined);
    return state?.open?.values() ?? [];
  };
  metrics.observe({
    rt,
    openCalls,
    releases: () => ({
      current: releases.current.version,
      permanent: releases.permanent,
      install: releases.progress,
    }),
  });

  const token = resolveAdminToken(settings.adminToken, settings.dataDir);
  let accepting = true;
  const gateway = attachGateway(publicApp, {
    path: '/calls',
    rt,
    ports: 'ports' as Pid,
    sessions: 'sessions' as Pid,
    sockets,
    sessionArgs: (port): SessionArgs => ({
      port,
      config: { ringTimeoutMs: settings.ringTimeoutMs, mediaTimeoutMs: settings.mediaTimeoutMs },
    }),
    decode: (text) => protocol.decode(text),
    limits: settings,
    guard,
    hooks: {
      received: metrics.received,
      sent: metrics.sent,
      protocolError: metrics.protocolError,
      callAttemptRefused: metrics.callAttemptRefused,
      pongTimedOut: metrics.pongTimedOut,
    },
    log: publicApp.log,
  });
  const ready = () => accepting && rt.whereis(JOURNAL) !== undefined && rt.whereis('sessions') !== undefined;
  publicRoutes(publicApp, {
    node: settings.node,
    ready,
    metrics: async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    }),
    protocolSchema: () => protocol.jsonSchema(),
  });
  const auth = {
    tokens: new AdminTokens(token.token, join(settings.dataDir, 'admin-tokens.json')),
    sessions: new ObserverSessions(),
  };
  await installAdminAuth(adminApp, auth);
  installAuditTrail(adminApp, new AuditLog(join(settings.dataDir, 'audit.log')));
  tokenRoutes(adminApp, auth);
  adminRoutes(adminApp, {
    rt,
    cdrs: (q) => queryCdrs(journalPath, q),
    cluster: () =>
      cluster === undefined
        ? null
        : {
            url: settings.cluster,
            // This node as its heartbeats describe it, so one node's answer addresses them all.
            self: { node: settings.node, ...releases.declared, ...where },
            nodes: cluster.nodes(),
          },
  });
  releaseRoutes(adminApp, releases);
  const feed = new ObserverFeed({
    node: settings.node,
    startedAt,
    rt,
    releases,
    sessionModule: 'session',
    ready,
    frames: metrics.frameTotals,
    calls: () => countPhases(openCalls()),
    log: (err) => adminApp.log.error({ err }, 'observer snapshot failed'),
  });
  await observerRoutes(adminApp, { node: settings.node, auth, feed });

  await publicApp.listen({ host: settings.host, port: settings.port });
  await adminApp.listen({ host: settings.adminHost, port: settings.adminPort });
  if (token.generated) {
    publicApp.log.warn(
      `admin token (printed once; stored in ${join(settings.dataDir, 'admin-token')}): ${token.token}`,
    );
  }
  const url = (a: FastifyInstance, scheme: string) => {
    const address = a.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
    return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  };
  const httpUrl = url(publicApp, 'http');
  const callsUrl = `${url(publicApp, 'ws')}/calls`;
  const adminUrl = url(adminApp, 'http');
  Object.assign(where, { callsUrl, httpUrl, adminUrl });
  cluster?.membership.announce();

  let stopping: Promise<void> | null = null;
  return {
    settings,
    rt,
    metrics,
    releases,
    protocol,
    publicApp,
    adminApp,
    gateway,
    callsUrl,
    httpUrl,
    adminUrl,
    adminToken: token.token,
    cluster,
    recovered: recovered.length,
    stop() {
      stopping ??= (async () => {
        accepting = false;
        gateway.stopAccepting();
        // The application replies to 'stop' before its (async) terminate has shut the tree
        // down: wait for it to end, or the calls' CDRs and the sockets' 1001 closes are lost.
        const ended = rt.awaitExit(app, Number.POSITIVE_INFINITY);
        await rt.call(app, 'stop', Number.POSITIVE_INFINITY);
        await ended;
        await Promise.all([publicApp.close(), adminApp.close(), releases.store.flushed]);
        await cluster?.leave();
      })();
      return stopping;
    },
  };
}
