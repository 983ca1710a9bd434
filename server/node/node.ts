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
 *
 * A node can hand itself to a successor process (server/handoff): `handoff()` in the old
 * one; the successor starts with `successor` and builds the same parts but no supervision
 * tree, listener or CDR recovery: those arrive from the old process. In a cluster it joins
 * in the old process's seat (same name and incarnation), which it takes over at the end.
 */
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { CdrArchive } from '../calls/cdr/archive.ts';
import { exportLines } from '../calls/cdr/export-format.ts';
import { countPhases, createJournal, type JournalState } from '../calls/cdr/journal.ts';
import { type ClaimCdr, claimAlone, recoverLog } from '../calls/cdr/log.ts';
import { prepareStore } from '../calls/cdr/store.ts';
import { JOURNAL, type Release, type SessionArgs, userName } from '../calls/contract.ts';
import { ClientProtocol } from '../calls/protocol/codec.ts';
import { builtInRelease } from '../calls/releases/built-in.ts';
import { additionsOf } from '../calls/releases/index.ts';
import { type Cluster, joinCluster, type Seat } from '../cluster/cluster.ts';
import { nodeRequests } from '../cluster/node-requests.ts';
import { HotlineError, hotlineError } from '../errors/catalogue.ts';
import { moveAll } from '../handoff/batches.ts';
import { directSuccessor, type StartSuccessor, type SuccessorSpec } from '../handoff/channel.ts';
import { type HandoffRequest, type HandoffSummary, Handoffs } from '../handoff/handoff.ts';
import { movableSockets } from '../handoff/inherit.ts';
import type { SocketCopies } from '../handoff/keeper-channel.ts';
import type { LastBatch } from '../handoff/protocol.ts';
import { seatGiver, seatTaker } from '../handoff/seat.ts';
import type { NewNode } from '../handoff/takeover.ts';
import { AdminTokens } from '../http/admin-tokens.ts';
import { adminRoutes, createFastify, publicRoutes } from '../http/app.ts';
import { AuditLog } from '../http/audit-log.ts';
import { installAuditTrail } from '../http/audit-trail.ts';
import { installAdminAuth, resolveAdminToken } from '../http/auth.ts';
import { ClusterReplacement, REPLACE_TOPIC } from '../http/cluster-replacement.ts';
import { guardConnections } from '../http/connection-guard.ts';
import { attachGateway, type Gateway } from '../http/gateway.ts';
import { handoffRoutes } from '../http/handoff-routes.ts';
import { ObserverFeed } from '../http/observer-feed.ts';
import { observerRoutes } from '../http/observer-routes.ts';
import { ObserverSessions, type ObserverSessionsImage } from '../http/observer-session.ts';
import { PhoneAuth } from '../http/phone-auth.ts';
import { phoneTokenRoute } from '../http/phone-token-route.ts';
import { trustedPhoneKeys } from '../http/phone-tokens.ts';
import { createPort } from '../http/port.ts';
import { releaseRoutes } from '../http/release-routes.ts';
import { readTlsPair, tlsFiles } from '../http/tls.ts';
import { reconnectTlsPhones } from '../http/tls-reconnect.ts';
import { TlsReloader } from '../http/tls-reload.ts';
import { tokenRoutes } from '../http/token-routes.ts';
import { ReleaseHandler, type ReleasesImage } from '../release/handler.ts';
import { devKeyPair, readPublicKeys } from '../release/keys.ts';
import { RELEASE_API_VERSION } from '../release/module.ts';
import { type Clock, type Pid, pidNode, Runtime } from '../runtime/index.ts';
import { carryCounters, type MetricsValues } from './metrics/carry.ts';
import type { HandoffCarry } from './metrics/handoff.ts';
import { createMetrics, type NodeMetrics } from './metrics/index.ts';
import type { NodeSettings } from './settings.ts';
import { startWatchdog, type Watchdog } from './watchdog.ts';
import { appendWatchdogRecord, pendingFire, watchdogLogPath } from './watchdog-log.ts';
import { judgeFire } from './watchdog-recovery.ts';

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
  /** ws://host:port/calls (wss:// with TLS) */
  callsUrl: string;
  httpUrl: string;
  adminUrl: string;
  adminToken: string;
  /** The cluster joined with settings.cluster; undefined when the node runs alone. */
  cluster: Cluster | undefined;
  /** Reloads the certificate of both surfaces (SIGHUP; file changes start it too); undefined without TLS. */
  tls: TlsReloader | undefined;
  /** CDRs written at start for calls that were up when the node last died. */
  recovered: number;
  /** Graceful: stop accepting, end calls with their CDRs, close sockets (1001), flush. */
  stop(): Promise<void>;
  /**
   * Hand the node to a successor process; resolves once the successor has it all (this
   * process then holds nothing and should exit). HOT_ERR_HANDOFF_* when refused or failed.
   */
  handoff(request?: HandoffRequest): Promise<HandoffSummary>;
  /** Resolves once a handoff has moved everything to a successor: this process should exit. */
  handedOff: Promise<HandoffSummary>;
  /** In a successor: what receives the node from the old process (server/handoff/takeover.ts). */
  successor: NewNode | undefined;
}

export interface StartOptions {
  clock?: Clock;
  /** false in tests; otherwise pino at settings.logLevel. */
  logger?: boolean;
  release?: Release;
  /** How this node starts a successor for a handoff; without it, `handoff()` is refused. */
  launch?: {
    spec: SuccessorSpec;
    start?: StartSuccessor;
    /** Under the keeper: it holds a copy of each phone's socket, for the node's next successor. */
    copies?: SocketCopies;
  };
  /** Start as a successor: ids, releases (and the cluster seat) from the old process's welcome; nothing runs until it hands over. */
  successor?: { firstPid: number; firstRef: number; releases: ReleasesImage; boot?: unknown; cluster?: Seat };
}

/** B's first ids are this far above A's: room for the pids and refs A makes while the handoff runs. */
const HANDOFF_ID_HEADROOM = 1_000_000_000;

export async function startNode(settings: NodeSettings, options: StartOptions = {}): Promise<HotlineNode> {
  const startedAt = Date.now();
  const journalPath = join(settings.dataDir, 'cdr.log');
  const metrics = createMetrics(settings.node, settings.openRegistration);
  const successor = options.successor;
  const rt = new Runtime({
    node: settings.node,
    ...(successor === undefined ? {} : { firstPid: successor.firstPid, firstRef: successor.firstRef }),
    ...(options.clock ? { clock: options.clock } : {}),
    turnObserver: metrics.sessionTurn,
  });
  const sockets = new Map<number, WebSocket>();
  let cluster: Cluster | undefined;
  let watchdog: Watchdog | undefined;

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
    probationChanged: (version) => watchdog?.probation(version),
  });
  // The watchdog ended this node last time: mark the release that was stuck before booting.
  const watchdogLog = watchdogLogPath(settings.dataDir);
  const fired = pendingFire(watchdogLog);
  const verdict = fired === undefined ? undefined : await judgeFire(fired, releases);
  // A restarted node boots its permanent release.
  for (const b of (await releases.boot(settings.release)).behaviours) rt.modules.load(b);
  // A successor runs every release the old process runs, and holds them as they are until it has the install that waits.
  const releasesHeld = successor === undefined ? undefined : releases.hold('the node is being handed over');
  if (successor !== undefined) await releases.takeOverCode(successor.releases);
  const logger = options.logger === false ? false : { level: settings.logLevel };
  // A successor reads the same files: the listening sockets it is handed serve TLS from it.
  const tlsAt = tlsFiles(settings);
  const https = tlsAt === undefined ? {} : { https: readTlsPair(tlsAt) };
  const publicApp = createFastify({ logger, connections: settings, ...https });
  const adminApp = createFastify({
    logger: false,
    loggerInstance: publicApp.log,
    connections: settings,
    ...https,
  });
  const tls =
    tlsAt === undefined
      ? undefined
      : new TlsReloader(tlsAt, [publicApp.server, adminApp.server] as unknown as TlsServer[], {
          reloaded: (fingerprint, why) => {
            metrics.tlsReload('reloaded');
            publicApp.log.info({ fingerprint, why }, `TLS certificate reloaded (${why})`);
          },
          refused: (err, why) => {
            metrics.tlsReload('refused');
            publicApp.log.error({ err, code: err.code, why }, `${err.message}; the certificate in use stays`);
          },
        });
  const connectionHooks = {
    refused: metrics.connectionRefused,
    handshakeTimedOut: metrics.handshakeTimedOut,
  };
  const guard = guardConnections(publicApp, settings, connectionHooks);
  guardConnections(adminApp, settings, connectionHooks);
  // Join before phones can register (their users go into the cluster's directory), and
  // before recovery: a call that was up may have its CDR from a surviving node already.
  const where: { callsUrl?: string; httpUrl?: string; adminUrl?: string } = {};
  // A successor joins in the old process's seat, which it takes over after the last batch.
  cluster =
    settings.cluster === undefined
      ? undefined
      : await joinCluster({
          ...(successor?.cluster === undefined ? {} : { successor: successor.cluster }),
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
  const cdrPolicy = {
    segmentBytes: settings.cdrSegmentBytes,
    segmentMs: settings.cdrSegmentMinutes * 60_000,
    retentionMs: settings.cdrRetentionDays * 86_400_000,
  };
  // A successor's journal moves with its open calls: nothing to prepare or recover.
  if (successor === undefined) await prepareStore(journalPath, cdrPolicy, rt.clock.now());
  const recovered = successor === undefined ? await recoverLog(journalPath, settings.node, claim) : [];
  if (settings.release !== undefined && releases.current.version !== settings.release)
    publicApp.log.warn(
      `release ${settings.release} is marked (${releases.marked(settings.release)}): booted the permanent ${releases.current.version} instead`,
    );
  if (fired !== undefined && verdict !== undefined) {
    const booted = releases.current.version;
    appendWatchdogRecord(watchdogLog, {
      type: 'recovered',
      at: new Date().toISOString(),
      fired: fired.at,
      booted,
      ...verdict,
    });
    publicApp.log.warn(
      { fired, booted, marked: verdict.marked, lostCalls: recovered.length },
      `watchdog: the node was ended at ${fired.at}; ${verdict.why}; booted ${booted}` +
        (verdict.marked === null ? '' : `, release ${verdict.marked} is marked (refused unless forced)`),
    );
  }
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

  const tree = {
    strategy: 'one_for_one',
    intensity: 10,
    periodMs: 10_000,
    children: [
      { id: JOURNAL, start: { module: JOURNAL, args: { path: journalPath, policy: cdrPolicy } } },
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
  };
  // A successor gets the application master and its tree with the last batch of the handoff.
  let app: Pid | undefined = successor === undefined ? rt.spawn('application', tree) : undefined;
  let supervisorsHere: () => void = () => {};
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
  const registrationAuth = settings.openRegistration ? undefined : phoneAuth(settings);
  // A valid register here takes its user over from another node (only with tokens to check).
  const replacement =
    cluster === undefined || registrationAuth === undefined
      ? undefined
      : new ClusterReplacement({
          requests: nodeRequests(cluster.nc, settings.node, REPLACE_TOPIC),
          node: settings.node,
          holder: (user) => {
            const pid = rt.whereis(userName(user));
            return pid === undefined ? undefined : pidNode(pid);
          },
          auth: registrationAuth,
          refused: (code) =>
            publicApp.log.warn({ code }, 'cluster: a request to take over a user was refused'),
        });
  const booted = successor?.boot as Booted | undefined;
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
    auth: registrationAuth,
    ...(replacement === undefined ? {} : { elsewhere: replacement }),
    hooks: {
      received: metrics.received,
      sent: metrics.sent,
      protocolError: metrics.protocolError,
      callAttemptRefused: metrics.callAttemptRefused,
      pongTimedOut: metrics.pongTimedOut,
      registrationRefused: metrics.registrationRefused,
      registrationReplaced: metrics.registrationReplaced,
    },
    log: publicApp.log,
    ...(booted === undefined ? {} : { lastSocket: booted.lastSocket }),
    ...(options.launch?.copies === undefined ? {} : { copies: options.launch.copies }),
    ...(successor === undefined
      ? {}
      : {
          supervisorsHere: new Promise<void>((resolve) => {
            supervisorsHere = resolve;
          }),
        }),
  });
  replacement?.serve((user) => gateway.replaceHolder(user));
  const ready = () => accepting && rt.whereis(JOURNAL) !== undefined && rt.whereis('sessions') !== undefined;
  /** A successor has the node once its last batch runs here. */
  let servingNode = successor === undefined;
  publicRoutes(publicApp, {
    node: settings.node,
    ready,
    metrics: async () => {
      // A successor listens from the handoff's listeners phase on, but its counters go on
      // from the old process's only once it has the node: a scrape before then would see
      // them go backwards. Refused, it is a failed scrape, not a counter reset.
      if (!servingNode) throw hotlineError('HOT_ERR_HANDOFF_RUNNING', process.pid);
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    protocolSchema: () => protocol.jsonSchema(),
  });
  const auth = {
    tokens: new AdminTokens(token.token, join(settings.dataDir, 'admin-tokens.json')),
    sessions: new ObserverSessions(),
  };
  // Pages signed in to the old process reach this one from the handoff's listeners phase on.
  auth.sessions.import(booted?.observerSessions ?? []);
  const cdrArchive = new CdrArchive(journalPath);
  await installAdminAuth(adminApp, auth);
  installAuditTrail(adminApp, new AuditLog(join(settings.dataDir, 'audit.log')));
  tokenRoutes(adminApp, auth);
  adminRoutes(adminApp, {
    rt,
    cdrs: { page: (q) => cdrArchive.page(q), exportLines: (range, f) => exportLines(cdrArchive, range, f) },
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
  phoneTokenRoute(adminApp, settings.dataDir);
  handoffRoutes(adminApp, (request) => node.handoff(request));
  const feed = new ObserverFeed({
    node: settings.node,
    startedAt,
    rt,
    releases,
    sessionModule: 'session',
    ready,
    openRegistration: settings.openRegistration,
    frames: metrics.frameTotals,
    calls: () => countPhases(openCalls()),
    handoff: metrics.handoff.progress,
    log: (err) => adminApp.log.error({ err }, 'observer snapshot failed'),
  });
  await observerRoutes(adminApp, { node: settings.node, auth, feed });

  watchdog = await startWatchdog({ ...settings, running: rt.running });
  watchdog?.probation(releases.probation);
  if (settings.openRegistration)
    publicApp.log.warn(
      'open registration: phones register without a token, as any user name nobody holds (--open-registration; trusted labs only)',
    );
  if (successor === undefined) {
    await publicApp.listen({ host: settings.host, port: settings.port });
    await adminApp.listen({ host: settings.adminHost, port: settings.adminPort });
  } else {
    // Listening comes later, on the old process's sockets (server/handoff/listeners.ts).
    await Promise.all([publicApp.ready(), adminApp.ready()]);
  }
  if (token.generated && successor === undefined) {
    publicApp.log.warn(
      `admin token (printed once; stored in ${join(settings.dataDir, 'admin-token')}): ${token.token}`,
    );
  }
  const url = (a: FastifyInstance, scheme: string) => {
    const address = a.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
    return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  };
  const secure = tls === undefined ? '' : 's';
  const located = () => {
    Object.assign(where, {
      callsUrl: `${url(publicApp, `ws${secure}`)}/calls`,
      httpUrl: url(publicApp, `http${secure}`),
      adminUrl: url(adminApp, `http${secure}`),
    });
    return where as Required<typeof where>;
  };
  if (successor === undefined) located();
  tls?.watch();
  cluster?.membership.announce();

  const handoffs =
    options.launch === undefined
      ? undefined
      : new Handoffs(
          {
            node: settings.node,
            runtimeApi: RELEASE_API_VERSION,
            successor: options.launch.spec,
            listeners: { public: publicApp.server, admin: adminApp.server },
            releases: () => releases.handOver(),
            nextIds: () => rt.move.nextIds(),
            boot: (): Booted => ({
              observerSessions: auth.sessions.export(),
              lastSocket: gateway.exportShared().lastSocket + HANDOFF_ID_HEADROOM,
            }),
            pidHeadroom: HANDOFF_ID_HEADROOM,
            phoneSockets: () => movableSockets(sockets),
            failed: () => options.launch?.copies?.only(sockets.keys()),
            hooks: metrics.handoff,
            seat: () => cluster?.seat(),
            moveAll: moveAll({
              seat: cluster === undefined ? undefined : seatGiver(cluster),
              rt,
              gateway,
              sockets,
              last: (p) =>
                p.behaviour.name.endsWith('supervisor') ||
                p.behaviour.name === 'application' ||
                p.name === JOURNAL,
              application: () => app as Pid,
              metrics: () => metrics.registry.getMetricsAsJSON(),
              carry: (): Carried => ({
                handoff: metrics.handoff.carry(),
                observerSessions: auth.sessions.export(),
              }),
              releases: () => releases.handOver(),
              stopAccepting: () => {
                accepting = false;
                const acceptAgain = gateway.stopAccepting();
                return () => {
                  accepting = true;
                  acceptAgain();
                };
              },
              reconnectUnmovable: () =>
                reconnectTlsPhones({
                  rt,
                  gateway,
                  sockets,
                  sessions: 'sessions' as Pid,
                  reconnected: metrics.tlsReconnects,
                }),
            }),
          },
          options.launch.start ?? directSuccessor,
        );

  let stopping: Promise<void> | null = null;
  let handedOff: (summary: HandoffSummary) => void = () => {};
  const node: HotlineNode = {
    handedOff: new Promise((resolve) => {
      handedOff = resolve;
    }),
    settings,
    rt,
    metrics,
    releases,
    protocol,
    publicApp,
    adminApp,
    gateway,
    get callsUrl() {
      return where.callsUrl as string;
    },
    get httpUrl() {
      return where.httpUrl as string;
    },
    get adminUrl() {
      return where.adminUrl as string;
    },
    adminToken: token.token,
    cluster,
    tls,
    recovered: recovered.length,
    stop() {
      stopping ??= (async () => {
        accepting = false;
        gateway.stopAccepting();
        // The application replies to 'stop' before its (async) terminate has shut the tree
        // down: wait for it to end, or the calls' CDRs and the sockets' 1001 closes are lost.
        if (app !== undefined) {
          const ended = rt.awaitExit(app, Number.POSITIVE_INFINITY);
          await rt.call(app, 'stop', Number.POSITIVE_INFINITY);
          await ended;
        }
        await Promise.all([publicApp.close(), adminApp.close(), releases.store.flushed]);
        await cluster?.leave();
        await watchdog?.stop();
        tls?.close();
      })();
      return stopping;
    },
    async handoff(request) {
      if (handoffs === undefined)
        throw hotlineError(
          'HOT_ERR_HANDOFF_FAILED',
          'this node was started without a way to start a successor',
        );
      if (stopping !== null) throw hotlineError('HOT_ERR_SHUTTING_DOWN');
      // A successor serves the admin surface from the listeners phase on, before it has the node.
      if (!servingNode) throw hotlineError('HOT_ERR_HANDOFF_RUNNING', process.pid);
      // Releases stay as they are while the processes are split between the two processes.
      const letGo = handoffs.running ? undefined : releases.hold('the node is being handed to a successor');
      try {
        const summary = await handoffs.run(request);
        // Everything is the successor's: this process holds nothing, and its stop() has nothing to stop.
        app = undefined;
        // Observer pages reconnect, to the successor.
        feed.end();
        stopping = Promise.resolve();
        tls?.close();
        handedOff(summary);
        return summary;
      } catch (err) {
        letGo?.();
        if (!HotlineError.is(err, 'HOT_ERR_HANDOFF_RUNNING'))
          metrics.handoff.ended(
            HotlineError.is(err, 'HOT_ERR_HANDOFF_INCOMPATIBLE') ? 'refused' : 'failed',
            (err as Error).message,
          );
        throw err;
      }
    },
    successor:
      successor === undefined
        ? undefined
        : {
            rt,
            gateway,
            listeners: { public: publicApp.server, admin: adminApp.server },
            adoptOptions: gateway.socketOptions,
            ...(cluster === undefined
              ? {}
              : { seat: (parent, inbox, isNode) => seatTaker(cluster as Cluster, parent, inbox, isNode) }),
            findCode: (module, version) =>
              releases.findCode(module, version) ?? rt.modules.find(module, version),
            tookOver(last: LastBatch, moved) {
              releases.takeOver(last.releases);
              releasesHeld?.();
              app = last.application as Pid;
              servingNode = true;
              gateway.importShared(last.gateway);
              carryCounters(metrics.registry, last.metrics as MetricsValues);
              // A's counters and progress were read before its last batch and before it ended.
              const carried = last.node as Carried | undefined;
              metrics.handoff.tookOver(carried?.handoff, moved);
              auth.sessions.import(carried?.observerSessions ?? []);
              located();
              supervisorsHere();
            },
          },
  };
  return node;
}

/** What a node gives its successor to boot with (`welcome.boot`). */
interface Booted {
  observerSessions: ObserverSessionsImage;
  /** The successor's phones' socket ids start above this (the old process's, plus headroom). */
  lastSocket: number;
}

/** What a node carries to its successor with the last batch, besides counters (`LastBatch.node`). */
interface Carried extends Pick<Booted, 'observerSessions'> {
  handoff: HandoffCarry;
}

/** The phone-token check the settings ask for (the node's own phone key is made on first use). */
function phoneAuth(settings: NodeSettings): PhoneAuth {
  return new PhoneAuth({
    keys: trustedPhoneKeys(settings.dataDir, settings.phoneKeys),
    issuer: settings.phoneIssuer,
    users: settings.phoneUsers === undefined ? undefined : new RegExp(`^(?:${settings.phoneUsers})$`),
    failures: settings.registrationFailures,
    failureWindowMs: settings.registrationFailureWindowMs,
  });
}
