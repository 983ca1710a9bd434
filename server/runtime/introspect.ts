/** Read-only views of a runtime for the admin API and the observer. */
import { application } from './application.ts';
import type { ProcessStatus } from './behaviour.ts';
import { dynamicSupervisor } from './dynamic-supervisor.ts';
import type { Pid } from './pid.ts';
import type { Process } from './process.ts';
import type { Runtime } from './runtime.ts';
import { supervisor } from './supervisor.ts';

export interface ProcessInfo {
  pid: Pid;
  name: string | undefined;
  module: string;
  version: string;
  status: ProcessStatus;
  mailbox: number;
  handled: number;
  parent: Pid | undefined;
  links: number;
  monitors: number;
  timers: number;
  trapExit: boolean;
}

export function processInfo(p: Process): ProcessInfo {
  return {
    pid: p.self,
    name: p.name,
    module: p.behaviour.name,
    version: p.behaviour.version,
    status: p.status,
    mailbox: p.mailboxLength,
    handled: p.handled,
    parent: p.parent,
    links: p.links?.size ?? 0,
    monitors: p.watchers?.size ?? 0,
    timers: p.timers?.size ?? 0,
    trapExit: p.trapExits,
  };
}

export function listProcesses(rt: Runtime, filter?: (info: ProcessInfo) => boolean): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const p of rt.processes()) {
    const info = processInfo(p);
    if (!filter || filter(info)) out.push(info);
  }
  return out;
}

/** The processes with the longest mailboxes: where a node is falling behind. */
export function longestMailboxes(rt: Runtime, limit: number): ProcessInfo[] {
  const top: Process[] = [];
  for (const p of rt.processes()) {
    if (p.mailboxLength === 0) continue;
    top.push(p);
    if (top.length > limit * 4) {
      top.sort((a, b) => b.mailboxLength - a.mailboxLength);
      top.length = limit;
    }
  }
  return top
    .sort((a, b) => b.mailboxLength - a.mailboxLength)
    .slice(0, limit)
    .map(processInfo);
}

export interface TreeNode {
  pid: Pid;
  name: string | undefined;
  module: string;
  version: string;
  status: ProcessStatus;
  children: TreeNode[];
  /** Children not listed (over maxChildren), counted by module@version. */
  more?: Record<string, number>;
}

/**
 * The process tree by parent (supervision tree, plus processes spawned by others).
 * A supervisor of 100,000 sessions lists `maxChildren` of them and counts the rest.
 */
export function supervisionTree(rt: Runtime, options: { maxChildren?: number } = {}): TreeNode[] {
  const maxChildren = options.maxChildren ?? 50;
  const byParent = childrenByParent(rt);
  const build = (p: Process): TreeNode => {
    const kids = byParent.get(p.self) ?? [];
    const node: TreeNode = {
      pid: p.self,
      name: p.name,
      module: p.behaviour.name,
      version: p.behaviour.version,
      status: p.status,
      children: kids.slice(0, maxChildren).map(build),
    };
    if (kids.length > maxChildren) {
      const more: Record<string, number> = {};
      for (const k of kids.slice(maxChildren)) {
        const key = `${k.behaviour.name}@${k.behaviour.version}`;
        more[key] = (more[key] ?? 0) + 1;
      }
      node.more = more;
    }
    return node;
  };
  return (byParent.get(undefined) ?? []).map(build);
}

/** Processes by their live parent; the roots (no parent, or a dead one) under undefined. */
function childrenByParent(rt: Runtime): Map<Pid | undefined, Process[]> {
  const byParent = new Map<Pid | undefined, Process[]>();
  for (const p of rt.processes()) {
    const parent = p.parent !== undefined && rt.isAlive(p.parent) ? p.parent : undefined;
    let list = byParent.get(parent);
    if (list === undefined) {
      list = [];
      byParent.set(parent, list);
    }
    list.push(p);
  }
  return byParent;
}

const SUPERVISING = new Set([application.name, supervisor.name, dynamicSupervisor.name]);

export interface Supervised {
  /** The supervisors directly below, in start order. */
  supervisors: SupervisorSummary[];
  /** Every other process below, down to the next supervisor, counted by module@version. */
  workers: Record<string, number>;
}

export interface SupervisorSummary extends Supervised {
  pid: Pid;
  name: string | undefined;
  module: string;
  version: string;
  status: ProcessStatus;
}

/**
 * The supervision tree for a dashboard: supervisors one by one, the rest counted. However
 * many sessions (and their call legs) run, it stays a few lines long. At the top: the
 * processes without a live parent.
 */
export function supervisionSummary(rt: Runtime): Supervised {
  const byParent = childrenByParent(rt);
  const below = (parent: Pid | undefined): Supervised => {
    const out: Supervised = { supervisors: [], workers: {} };
    const queue = [...(byParent.get(parent) ?? [])];
    for (let i = 0; i < queue.length; i++) {
      const p = queue[i] as Process;
      if (SUPERVISING.has(p.behaviour.name)) {
        const { self, name, behaviour, status } = p;
        out.supervisors.push({
          pid: self,
          name,
          module: behaviour.name,
          version: behaviour.version,
          status,
          ...below(self),
        });
        continue;
      }
      const key = `${p.behaviour.name}@${p.behaviour.version}`;
      out.workers[key] = (out.workers[key] ?? 0) + 1;
      for (const child of byParent.get(p.self) ?? []) queue.push(child);
    }
    return out;
  };
  return below(undefined);
}
