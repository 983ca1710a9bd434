/**
 * What nodes publish on NATS: subjects, and the JSON messages on them. Every message names
 * its sender's node and release, so a node on 1.0.0 and one on 2.0.0 know what they talk to.
 * What arrives is checked against a schema before the runtime sees it: NATS is shared, and a
 * malformed message must cost one message, not the node.
 */
import Type, { type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { hotlineError } from '../errors/catalogue.ts';
import type { NodeReleases } from '../release/compat.ts';
import type { DistMessage } from '../runtime/index.ts';

export const subjects = {
  /** The runtime's messages for one node (send, call, reply, monitor…), in order per sender. */
  dist: (node: string) => `hotline.node.${node}.dist`,
  /** Answered by a live node: how a starting node finds its name taken. */
  ping: (node: string) => `hotline.node.${node}.ping`,
  heartbeat: 'hotline.nodes.heartbeat',
  /** A node leaving on purpose: the others need not wait out its heartbeats. */
  leave: 'hotline.nodes.leave',
} as const;

/** Node names go into subjects: no dots, wildcards or spaces. */
const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function checkNodeName(node: string): void {
  if (!NODE_NAME.test(node))
    throw hotlineError(
      'HOT_ERR_BAD_CONFIG',
      `node name ${JSON.stringify(node)} in a cluster: use A-Z a-z 0-9 _ -`,
    );
}

/**
 * A node's release and the releases it declares it talks to, the other releases it runs
 * (while an install runs, or old processes remain), and where it can be reached, as its
 * heartbeats tell the cluster (for tools such as an upgrade orchestrator).
 */
export interface NodeInfo extends NodeReleases {
  callsUrl?: string;
  httpUrl?: string;
  adminUrl?: string;
}

export interface Heartbeat extends NodeInfo {
  node: string;
  /** New at every start: a node that restarted is a new incarnation, and the old one is down. */
  incarnation: string;
  startedAt: number;
}

export interface Leave {
  node: string;
  incarnation: string;
}

export interface Envelope {
  from: string;
  /** The sender's current release. */
  release: string;
  /** The other releases the sender runs, when it runs several (their declarations are in its heartbeats); undefined stays out of the JSON. */
  alsoRuns?: string[] | undefined;
  /**
   * The sender's incarnation and this message's number in it (one sequence for all it sends,
   * going on across its handoffs): how a node's successor tells what its old process got.
   * Absent from nodes of a build before them.
   */
  run?: string | undefined;
  seq?: number | undefined;
  msg: DistMessage;
}

export const Pid = Type.String({ maxLength: 200 });
const Ref = Type.Integer();
const Reason = Type.Object({ type: Type.String() });
const Payload = Type.Optional(Type.Unknown());

const Version = Type.String({ maxLength: 100 });
const Versions = Type.Array(Version, { maxItems: 1000 });

const EnvelopeSchema = Type.Object({
  from: Type.String({ maxLength: 64 }),
  release: Version,
  alsoRuns: Type.Optional(Type.Array(Version, { maxItems: 100 })),
  run: Type.Optional(Type.String({ maxLength: 100 })),
  seq: Type.Optional(Type.Integer({ minimum: 0 })),
  msg: Type.Union([
    Type.Object({ type: Type.Literal('send'), to: Pid, kind: Type.Enum(['cast', 'info']), message: Payload }),
    Type.Object({
      type: Type.Literal('call'),
      to: Pid,
      message: Payload,
      ref: Ref,
      timeoutMs: Type.Union([Type.Number(), Type.Null()]),
    }),
    Type.Object({ type: Type.Literal('reply'), ref: Ref, value: Payload }),
    Type.Object({
      type: Type.Literal('reply_error'),
      ref: Ref,
      error: Type.Object({ code: Type.Optional(Type.String()), message: Type.String() }),
    }),
    Type.Object({ type: Type.Literal('monitor'), watcher: Pid, target: Pid, ref: Ref }),
    Type.Object({ type: Type.Literal('demonitor'), target: Pid, ref: Ref }),
    Type.Object({ type: Type.Literal('down'), ref: Ref, pid: Pid, reason: Reason }),
    Type.Object({ type: Type.Enum(['link', 'unlink']), from: Pid, to: Pid }),
    Type.Object({ type: Type.Literal('exit'), from: Pid, to: Pid, reason: Reason }),
  ]),
});

const Url = Type.Optional(Type.String({ maxLength: 300 }));
const HeartbeatSchema = Type.Object({
  node: Type.String({ maxLength: 64 }),
  incarnation: Type.String({ maxLength: 100 }),
  startedAt: Type.Number(),
  release: Version,
  // Absent from nodes of a build before it: read as the release alone, and as running nothing else.
  talksTo: Type.Optional(Versions),
  alsoRuns: Type.Optional(
    Type.Array(Type.Object({ release: Version, talksTo: Versions }), { maxItems: 100 }),
  ),
  callsUrl: Url,
  httpUrl: Url,
  adminUrl: Url,
});
const LeaveSchema = Type.Object({
  node: Type.String({ maxLength: 64 }),
  incarnation: Type.String({ maxLength: 100 }),
});

/** A reader of one kind of message: the value, or undefined when the bytes are not one (bad JSON, or not the schema). */
export function reader<T>(schema: TSchema): (data: Uint8Array) => T | undefined {
  const check = Compile(schema);
  return (data) => {
    try {
      const value: unknown = decode(data);
      return check.Check(value) ? (value as T) : undefined;
    } catch {
      return undefined;
    }
  };
}

export const readEnvelope = reader<Envelope>(EnvelopeSchema);
const readBeat = reader<Omit<Heartbeat, 'talksTo'> & Partial<Pick<Heartbeat, 'talksTo'>>>(HeartbeatSchema);
export function readHeartbeat(data: Uint8Array): Heartbeat | undefined {
  const beat = readBeat(data);
  return beat === undefined
    ? undefined
    : { ...beat, talksTo: beat.talksTo ?? [beat.release], alsoRuns: beat.alsoRuns ?? [] };
}
export const readLeave = reader<Leave>(LeaveSchema);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
export const decode = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T;
