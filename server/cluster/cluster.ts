/**
 * A node joining a cluster over NATS: the runtime's distribution (one subject per node,
 * JSON envelopes naming the sender's node and release), membership by heartbeats, and the
 * directory of names in JetStream KV. Generic: what the names are (users) is the caller's.
 *
 * Joining: connect, refuse a name a live node answers to, load the directory and delete
 * this node's leftovers from before a crash, then beat and take messages.
 */
import { connect, type NatsConnection } from 'nats';
import { hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import { clashes, type NodeReleases, runsOf } from '../release/compat.ts';
import { plainError, type Runtime } from '../runtime/index.ts';
import { Claims, type ClaimsOptions } from './claims.ts';
import { Directory } from './directory.ts';
import { DistLink } from './dist.ts';
import { type Identity, type Member, Membership, type MembershipOptions } from './membership.ts';
import { checkNodeName, type Envelope, type NodeInfo, subjects } from './wire.ts';

/** Why a message from another node was not delivered. */
export type Refusal = 'malformed' | 'incompatible';

export interface ClusterOptions extends MembershipOptions {
  /** nats://host:port (several comma-separated). */
  url: string;
  rt: Runtime;
  /**
   * Every release the node runs, each with those it talks to: read for every message, so kept
   * ready, and the same object until it changes.
   */
  declared: () => NodeReleases;
  /** Where the node listens, read at every heartbeat. */
  where: () => Omit<NodeInfo, keyof NodeReleases>;
  /** Names the directory holds (the rest stay local). */
  covers: (name: string) => boolean;
  bucket?: string;
  /** Told of nodes coming and going (logging). */
  onMember?: (event: 'up' | 'down', node: string) => void;
  /** Told of each message refused (metrics, logging): `from` and `release` are the sender's, when known. */
  onRefused?: (why: Refusal, from?: string, release?: string) => void;
  /** Told when a claim waits for NATS to answer (logging). */
  onClaimWait?: ClaimsOptions['onWait'];
  /**
   * Join in the place of the node's old process, which hands its seat over
   * (server/handoff/seat.ts): no name check, no cleaning of its directory entries, no
   * beats, pings or messages until `occupy`.
   */
  successor?: Seat;
}

/** What a successor needs to take the node's place: who it is, and the NATS server it used. */
export interface Seat extends Identity {
  server: string;
}

export interface Cluster {
  readonly nc: NatsConnection;
  readonly directory: Directory;
  readonly membership: Membership;
  readonly claims: Claims;
  /** Other live nodes, with where they listen. */
  nodes(): Member[];
  /** Tell the others and disconnect (a graceful stop). */
  leave(): Promise<void>;
  /** The runtime's messages to and from other nodes. */
  readonly dist: DistLink;
  /** What a successor needs to take this node's place. */
  seat(): Seat;
  /** A successor holds the seat: answer pings and beat as the node (it beats along with the old process a moment). */
  occupy(): Promise<void>;
  /** The successor beats: stop without a leave, once the claims asked here are answered (up to `claimsMs`), and disconnect. */
  vacate(claimsMs: number): Promise<void>;
}

export const USERS_BUCKET = 'hotline_users';

export async function joinCluster(options: ClusterOptions): Promise<Cluster> {
  const { rt, successor } = options;
  checkNodeName(rt.node);
  let nc: NatsConnection;
  try {
    nc = await connect({
      // A successor on the old process's server first: what both publish reaches the others in order.
      servers:
        successor === undefined ? options.url.split(',') : [successor.server, ...options.url.split(',')],
      noRandomize: successor !== undefined,
      name: rt.node,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (err) {
    throw hotlineErrorWithCause(err, 'HOT_ERR_NATS_UNAVAILABLE', `${options.url}: ${String(err)}`);
  }
  try {
    if (successor === undefined) await refuseTakenName(nc, rt.node);
    const refuses = new Interop(options.declared);
    const malformed = () => options.onRefused?.('malformed');
    const directory = await Directory.open(nc.jetstream(), rt, {
      bucket: options.bucket ?? USERS_BUCKET,
      covers: options.covers,
      malformed,
    });
    // A successor's entries are the old process's, under the same pids: they stay.
    if (successor === undefined) await directory.clean(rt.node);
    const claims = await Claims.open(nc.jetstream(), rt.node, { onWait: options.onClaimWait });

    const membership = new Membership(
      nc,
      rt.node,
      () => ({ ...options.declared(), ...options.where() }),
      {
        malformed,
        up: (m) => options.onMember?.('up', m.node),
        down: (node) => {
          refuses.forget(node);
          rt.nodeDown(node);
          void directory.clean(node);
          options.onMember?.('down', node);
        },
      },
      options,
      successor,
    );
    const answerPings = () => nc.subscribe(subjects.ping(rt.node), { callback: (_e, m) => m.respond() });
    const dist: DistLink = new DistLink(
      nc,
      {
        node: rt.node,
        run: membership.incarnation.slice(0, 8),
        stamp: stamper(options.declared),
        malformed,
        deliver: (envelope) => {
          const { from, msg } = envelope;
          // A sender not heard yet is taken on trust.
          const sender = membership.member(from);
          const refused = sender === undefined ? undefined : refuses.check(sender, envelope);
          if (refused === undefined) return rt.receive(from, msg);
          options.onRefused?.('incompatible', from, refused.theirs);
          if (msg.type === 'call') {
            const error = hotlineError(
              'HOT_ERR_RELEASE_INCOMPATIBLE',
              refused.theirs,
              `${refused.ours} on ${rt.node}`,
            );
            dist.send(from, { type: 'reply_error', ref: msg.ref, error: plainError(error) });
          }
        },
      },
      successor === undefined,
    );
    rt.distribute(dist, directory);
    if (successor === undefined) {
      answerPings();
      dist.subscribe();
      membership.start();
    } else membership.listen();
    await nc.flush();
    // Entries of nodes that died while nobody was there to notice: gone once every live node has beaten.
    if (successor === undefined)
      setTimeout(() => {
        const stale = new Set(directory.entries().map((e) => e.node));
        for (const node of stale) if (node !== rt.node && !membership.isUp(node)) void directory.clean(node);
      }, membership.detectionBoundMs).unref();

    return {
      nc,
      directory,
      membership,
      claims,
      nodes: () => membership.members(),
      async leave() {
        membership.stop(true);
        directory.close();
        claims.close();
        await nc.drain();
      },
      dist,
      seat: () => ({
        incarnation: membership.incarnation,
        startedAt: membership.startedAt,
        server: nc.getServer(),
      }),
      async occupy() {
        answerPings();
        membership.beat();
        await nc.flush();
      },
      async vacate(claimsMs) {
        membership.stop(false);
        dist.close();
        await claims.answered(claimsMs);
        directory.close();
        claims.close();
        // Directory deletes and the like still in the write buffer reach the server first.
        await nc.flush().catch(() => {});
        await nc.close();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** What a node stamps on its envelopes: its current release, and the others while it runs several. */
function stamper(declared: () => NodeReleases): () => Pick<Envelope, 'release' | 'alsoRuns'> {
  let of: NodeReleases | undefined;
  let stamp: Pick<Envelope, 'release' | 'alsoRuns'> = { release: '' };
  return () => {
    const d = declared();
    if (d !== of) {
      of = d;
      const also = runsOf(d).slice(1);
      stamp = { release: d.release, alsoRuns: also.length === 0 ? undefined : also.map((r) => r.release) };
    }
    return stamp;
  };
}

/**
 * Whether a message may be delivered: every release its envelope names, as the sender's
 * heartbeats declare it (a release they do not declare yet is taken on trust), must
 * interoperate with every release this node runs — which of them sent it, and which will
 * handle it, the envelope does not say. One verdict per sender, kept until its next
 * heartbeat, a change of what this node runs or another set of releases named: a check runs
 * for every message between nodes.
 */
class Interop {
  readonly #verdicts = new Map<
    string,
    {
      sender: Member;
      ours: NodeReleases;
      release: string;
      alsoRuns: readonly string[] | undefined;
      refused: Refused | undefined;
    }
  >();

  constructor(readonly declared: () => NodeReleases) {}

  /** Undefined: deliver. Otherwise the releases that clash, for the refusal. */
  check(sender: Member, e: Envelope): Refused | undefined {
    const ours = this.declared();
    const known = this.#verdicts.get(sender.node);
    if (
      known?.sender === sender &&
      known.ours === ours &&
      known.release === e.release &&
      sameNames(known.alsoRuns, e.alsoRuns)
    )
      return known.refused;
    const theirs = runsOf(sender).filter((d) => d.release === e.release || e.alsoRuns?.includes(d.release));
    const clash = clashes(theirs, runsOf(ours));
    const refused =
      clash.length === 0
        ? undefined
        : {
            theirs: [...new Set(clash.map(([t]) => t.release))].join(', '),
            ours: [...new Set(clash.map(([, o]) => o.release))].join(', '),
          };
    this.#verdicts.set(sender.node, { sender, ours, release: e.release, alsoRuns: e.alsoRuns, refused });
    return refused;
  }

  forget(node: string): void {
    this.#verdicts.delete(node);
  }
}

/** Two envelopes' alsoRuns name the same releases (compared in place: this runs per message). */
function sameNames(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Refused {
  theirs: string;
  ours: string;
}

/** A live node answers on its ping subject; nobody answering is the name being free. */
async function refuseTakenName(nc: NatsConnection, node: string): Promise<void> {
  try {
    await nc.request(subjects.ping(node), undefined, { timeout: 1000 });
  } catch (err) {
    if ((err as { code?: string }).code === '503') return; // no responders
    throw hotlineErrorWithCause(err, 'HOT_ERR_NODE_NAME_TAKEN', node);
  }
  throw hotlineError('HOT_ERR_NODE_NAME_TAKEN', node);
}
