/** Read-only views of a runtime for the admin API and the observer. */
import { application } from './application.ts';
import type { ProcessStatus } from './behaviour.ts';
import { dynamicSupervisor } from './dynamic-supervisor.ts';
import type { Pid } from './pid.ts';
import type { ProcessView } from './process.ts';
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

export function processInfo(p: ProcessView): ProcessInfo {
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
  const top: ProcessView[] = [];
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
  const build = (p: ProcessView): TreeNode => {
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
function childrenByParent(rt: Runtime): Map<Pid | undefined, ProcessView[]> {
  const byParent = new Map<Pid | undefined, ProcessView[]>();
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
  // One pass, no per-parent arrays: at 100,000 sessions this runs every second while an
  // observer page is open, on the event loop that carries the calls.
  const root: Supervised = { supervisors: [], workers: {} };
  const summaries = new Map<Pid, SupervisorSummary>();
  const counts = new Map<Supervised, Map<ProcessView['behaviour'], number>>();
  /** The summary a process is counted under: its nearest live supervising ancestor's. */
  const home = (p: ProcessView): Supervised => {
    let parent = p.parent === undefined ? undefined : rt.lookup(p.parent);
    while (parent !== undefined && !SUPERVISING.has(parent.behaviour.name))
      parent = parent.parent === undefined ? undefined : rt.lookup(parent.parent);
    return parent === undefined ? root : summaryOf(parent);
  };
  const summaryOf = (p: ProcessView): SupervisorSummary => {
    let summary = summaries.get(p.self);
    if (summary === undefined) {
      const { self, name, behaviour, status } = p;
      summary = {
        pid: self,
        name,
        module: behaviour.name,
        version: behaviour.version,
        status,
        supervisors: [],
        workers: {},
      };
      summaries.set(self, summary);
    }
    return summary;
  };
  for (const p of rt.processes()) {
    if (p.dead) continue;
    if (SUPERVISING.has(p.behaviour.name)) {
      home(p).supervisors.push(summaryOf(p));
      continue;
    }
    const at = home(p);
    let byCode = counts.get(at);
    if (byCode === undefined) {
      byCode = new Map();
      counts.set(at, byCode);
    }
    byCode.set(p.behaviour, (byCode.get(p.behaviour) ?? 0) + 1);
  }
  for (const [at, byCode] of counts)
    for (const [behaviour, n] of byCode) {
      const key = `${behaviour.name}@${behaviour.version}`;
      at.workers[key] = (at.workers[key] ?? 0) + n;
    }
  return root;
}
