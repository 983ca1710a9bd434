/**
 * Links and monitors, local and across nodes: setting them up and taking them down, and
 * carrying a process's end to them — DOWN messages to its watchers, exit signals along
 * its links.
 */
import type { MonitorRef } from './behaviour.ts';
import type { DistMessage } from './distribution.ts';
import { type ExitReason, noconnection, noproc } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';
import type { Process } from './process.ts';

/** A monitor; `theirRef` is set when the watcher is on another node (the ref its DOWN must name). */
interface Monitor {
  watcher: Pid;
  target: Pid;
  theirRef?: number;
}

/** The message of type `T` another node's runtime sent. */
type FromNode<T extends DistMessage['type']> = DistMessage & { readonly type: T };

export class Links {
  readonly #k: Kernel;
  readonly #monitors = new Map<MonitorRef, Monitor>();

  constructor(kernel: Kernel) {
    this.#k = kernel;
  }

  /** Link two processes. Linking to a process that is gone signals `noproc` to `a`. */
  link(a: Pid, b: Pid): void {
    const table = this.#k.table;
    const pa = table.get(a);
    if (pa === undefined || a === b) return;
    const pb = table.get(b);
    if (pb === undefined && !this.#k.remote.toNodeOf(b, { type: 'link', from: a, to: b }))
      return table.signal(pa, b, noproc);
    pa.addLink(b);
    pb?.addLink(a);
  }

  unlink(a: Pid, b: Pid): void {
    const table = this.#k.table;
    table.get(a)?.removeLink(b);
    const pb = table.get(b);
    if (pb !== undefined) pb.removeLink(a);
    else this.#k.remote.toNodeOf(b, { type: 'unlink', from: a, to: b });
  }

  /** Monitor `target` from `watcher`: a DOWN info message follows its end (at once if gone). */
  monitor(watcher: Pid, target: Pid): MonitorRef {
    const k = this.#k;
    const ref = k.nextRef();
    const pw = k.table.get(watcher);
    const pt = k.table.get(target);
    if (pw === undefined) return ref;
    if (pt === undefined && !k.remote.toNodeOf(target, { type: 'monitor', watcher, target, ref })) {
      this.#down(pw, ref, target, noproc);
      return ref;
    }
    this.#monitors.set(ref, { watcher, target });
    pw.addWatching(ref);
    pt?.addWatcher(ref);
    return ref;
  }

  demonitor(ref: MonitorRef): void {
    const m = this.#monitors.get(ref);
    if (m === undefined) return;
    this.#monitors.delete(ref);
    const table = this.#k.table;
    table.get(m.watcher)?.removeWatching(ref);
    const pt = table.get(m.target);
    if (pt !== undefined) pt.removeWatcher(ref);
    else if (m.theirRef === undefined)
      this.#k.remote.toNodeOf(m.target, { type: 'demonitor', target: m.target, ref });
  }

  /** `p` has ended with `reason`: its watchers get DOWN, its links an exit signal. */
  ended(p: Process, reason: ExitReason): void {
    const k = this.#k;
    if (p.watchers !== null) {
      for (const ref of p.watchers) {
        const m = this.#monitors.get(ref);
        this.#monitors.delete(ref);
        const watcher = m && k.table.get(m.watcher);
        if (watcher) {
          watcher.removeWatching(ref);
          this.#down(watcher, ref, p.self, reason);
        } else if (m?.theirRef !== undefined) k.remote.down(m.watcher, m.theirRef, p.self, reason);
      }
    }
    if (p.links !== null) {
      for (const pid of p.links) {
        const other = k.table.get(pid);
        if (other === undefined) {
          k.remote.exit(pid, p.self, reason);
          continue;
        }
        other.removeLink(p.self);
        k.table.signal(other, p.self, reason);
      }
    }
  }

  #down(watcher: Process, ref: MonitorRef, pid: Pid, reason: ExitReason): void {
    this.#k.dispatch.enqueue(watcher, 'info', { type: 'DOWN', ref, pid, reason }, null);
  }

  // ---- what other nodes ask of ours ----

  /** A process of node `from` monitors one of ours. */
  monitorFor(from: string, m: FromNode<'monitor'>): void {
    const k = this.#k;
    const pt = k.table.get(m.target);
    if (pt === undefined)
      return k.remote.send(from, { type: 'down', ref: m.ref, pid: m.target, reason: noproc });
    const ref = k.nextRef();
    this.#monitors.set(ref, { watcher: m.watcher, target: m.target, theirRef: m.ref });
    pt.addWatcher(ref);
  }

  demonitorFor(from: string, m: FromNode<'demonitor'>): void {
    const pt = this.#k.table.get(m.target);
    if (pt === undefined || pt.watchers === null) return;
    for (const ref of pt.watchers) {
      const mon = this.#monitors.get(ref);
      if (mon?.theirRef === m.ref && pidNode(mon.watcher) === from) {
        this.#monitors.delete(ref);
        pt.removeWatcher(ref);
      }
    }
  }

  /** A process of another node that one of ours monitors has ended. */
  downFrom(m: FromNode<'down'>): void {
    const mon = this.#monitors.get(m.ref);
    if (mon === undefined || mon.target !== m.pid) return;
    this.#monitors.delete(m.ref);
    const watcher = this.#k.table.get(mon.watcher);
    if (watcher === undefined) return;
    watcher.removeWatching(m.ref);
    this.#down(watcher, m.ref, m.pid, m.reason);
  }

  linkFrom(from: string, m: FromNode<'link' | 'unlink'>): void {
    const p = this.#k.table.get(m.to);
    if (p === undefined)
      return this.#k.remote.send(from, { type: 'exit', from: m.to, to: m.from, reason: noproc });
    p.addLink(m.from);
  }

  unlinkFrom(m: FromNode<'link' | 'unlink'>): void {
    this.#k.table.get(m.to)?.removeLink(m.from);
  }

  exitFrom(m: FromNode<'exit'>): void {
    const p = this.#k.table.get(m.to);
    if (p === undefined) return;
    p.removeLink(m.from);
    this.#k.table.signal(p, m.from, m.reason);
  }

  /**
   * `node` is gone: monitors on its processes fire and links to them break with
   * `noconnection`; monitors it held on ours are dropped. A rare event: it scans.
   */
  nodeDown(node: string): void {
    const table = this.#k.table;
    for (const [ref, m] of this.#monitors) {
      if (pidNode(m.watcher) === node) {
        this.#monitors.delete(ref);
        table.get(m.target)?.removeWatcher(ref);
      } else if (pidNode(m.target) === node) {
        this.#monitors.delete(ref);
        const watcher = table.get(m.watcher);
        if (watcher === undefined) continue;
        watcher.removeWatching(ref);
        this.#down(watcher, ref, m.target, noconnection);
      }
    }
    const cut: [Process, Pid][] = [];
    for (const p of table.values()) {
      if (p.links === null) continue;
      for (const other of p.links) if (pidNode(other) === node) cut.push([p, other]);
    }
    for (const [p, other] of cut) {
      p.removeLink(other);
      table.signal(p, other, noconnection);
    }
  }
}
