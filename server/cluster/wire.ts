/**
 * What nodes publish on NATS: subjects, and the JSON messages on them. Every message names
 * its sender's node and release, so a node on 1.0.0 and one on 2.0.0 know what they talk to.
 */
import { hotlineError } from '../errors/catalogue.ts';
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

/** Where a node can be reached, as its heartbeats tell the cluster (for tools such as an upgrade orchestrator). */
export interface NodeInfo {
  release: string;
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
  release: string;
  msg: DistMessage;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
export const decode = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T;
