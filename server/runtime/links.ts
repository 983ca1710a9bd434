/**
 * Links and monitors, local and across nodes: setting them up and taking them down, and
 * carrying a process's end to them — DOWN messages to its watchers, exit signals along
 * its links.
 */
import type { MonitorRef } from './behaviour.ts';
import { type DistMessage, plainReason } from './distribution.ts';
import { type ExitReason, noconnection, noproc } from './exit-reason.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';
import type { Process } from './process.ts';
import type { ProcessImage } from './process-image.ts';

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
        else if (m !== undefined) {
          // A local watcher a move holds: its DOWN waits with its other messages.
          const down = { type: 'DOWN', ref, pid: p.self, reason: plainReason(reason) };
          k.move.forward(m.watcher, { type: 'send', to: m.watcher, kind: 'info', message: down });
        }
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

  // ---- a process moving to (or from) the other runtime of this node (move.ts) ----

  /** The monitors `p` holds and the monitors on it, named by the refs their DOWNs carry. */
  imageOf(p: Process): Pick<ProcessImage, 'watching' | 'watchers'> {
    const watching: { ref: MonitorRef; target: Pid }[] = [];
    const watchers: { watcher: Pid; ref: MonitorRef }[] = [];
    if (p.watching !== null)
      for (const ref of p.watching) {
        const m = this.#monitors.get(ref);
        if (m !== undefined) watching.push({ ref, target: m.target });
      }
    if (p.watchers !== null)
      for (const ref of p.watchers) {
        const m = this.#monitors.get(ref);
        if (m !== undefined) watchers.push({ watcher: m.watcher, ref: m.theirRef ?? ref });
      }
    return { watching, watchers };
  }

  /**
   * `p` now lives behind a move's route. A monitor it holds on a process still here becomes
   * one from a remote watcher (its DOWN goes through the route); a monitor on it by a process
   * still here stays as it is (its DOWN comes back through the route). Monitors between `p`
   * and processes gone from here are the other side's to keep.
   */
  moved(p: Process): void {
    const move = this.#k.move;
    if (p.watching !== null)
      for (const ref of p.watching) {
        const m = this.#monitors.get(ref);
        if (m === undefined) continue;
        if (move.isHere(m.target)) m.theirRef = ref;
        else this.#monitors.delete(ref);
      }
    if (p.watchers !== null)
      for (const ref of p.watchers) {
        const m = this.#monitors.get(ref);
        if (m !== undefined && !move.isHere(m.watcher)) this.#monitors.delete(ref);
      }
  }

  /**
   * The monitors of a process restored here from an image. A monitor between it and a
   * process restored before is local again; one with a process of this node not here (yet)
   * is kept as the other side does: by the watcher's ref.
   */
  adopt(p: Process, image: Pick<ProcessImage, 'watching' | 'watchers'>): void {
    const k = this.#k;
    for (const { ref, target } of image.watching) {
      const m = this.#monitors.get(ref);
      if (m === undefined) this.#monitors.set(ref, { watcher: p.self, target });
      else delete m.theirRef;
      p.addWatching(ref);
    }
    for (const { watcher, ref } of image.watchers) {
      if (pidNode(watcher) !== k.node) {
        const local = k.nextRef();
        this.#monitors.set(local, { watcher, target: p.self, theirRef: ref });
        p.addWatcher(local);
        continue;
      }
      if (!this.#monitors.has(ref)) {
        const here = k.move.isHere(watcher);
        this.#monitors.set(
          ref,
          here ? { watcher, target: p.self } : { watcher, target: p.self, theirRef: ref },
        );
      }
      p.addWatcher(ref);
    }
  }

  /** A restored process is dropped before it ran: its monitors go with it. */
  discarded(p: Process): void {
    if (p.watching !== null) for (const ref of p.watching) this.#monitors.delete(ref);
    if (p.watchers !== null)
      for (const ref of p.watchers)
        if (this.#monitors.get(ref)?.target === p.self) this.#monitors.delete(ref);
  }

  /** The local watcher of monitor `ref`, if any: where a DOWN for it goes. */
  watcherOf(ref: MonitorRef): Pid | undefined {
    return this.#monitors.get(ref)?.watcher;
  }

  /** A watcher of this node (in the other runtime of a move, or here before `p` was held) monitors `p` by `ref`. */
  attachWatcher(p: Process, ref: MonitorRef, watcher: Pid): void {
    if (!this.#monitors.has(ref)) this.#monitors.set(ref, { watcher, target: p.self, theirRef: ref });
    p.addWatcher(ref);
  }

  detachWatcher(p: Process, ref: MonitorRef): void {
    if (this.#monitors.get(ref)?.target === p.self) this.#monitors.delete(ref);
    p.removeWatcher(ref);
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
