/**
 * Runtime events, typed. Metrics and the observer subscribe here; the runtime knows
 * nothing about them. A listener that throws is reported and never breaks the runtime.
 */
import type { ExitReason } from './exit-reason.ts';
import type { Pid } from './pid.ts';

export interface RuntimeEventMap {
  spawn: { pid: Pid; module: string; version: string; parent: Pid | undefined };
  exit: { pid: Pid; module: string; version: string; reason: ExitReason };
  restart: { supervisor: Pid; childId: string; pid: Pid; module: string };
  code_change: { pid: Pid; module: string; from: string; to: string };
  /** A cast or info message arrived at a behaviour with no handler for it. */
  unhandled: { pid: Pid; module: string; kind: 'cast' | 'info' };
  /** A process reported a failure it contained and carries on from (`ctx.reportError`). */
  error_report: { pid: Pid; module: string; version: string; error: unknown };
}

type Listener<T> = (event: T) => void;

export class RuntimeEvents {
  #listeners = new Map<keyof RuntimeEventMap, Listener<never>[]>();

  /** Subscribe; returns the function that unsubscribes. */
  on<K extends keyof RuntimeEventMap>(type: K, listener: Listener<RuntimeEventMap[K]>): () => void {
    // Copy on write: an emit in progress keeps iterating the list it started with, so a
    // listener that unsubscribes (or subscribes) while handling an event skips no one.
    const list = this.#listeners.get(type) ?? [];
    this.#listeners.set(type, [...list, listener as Listener<never>]);
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const current = this.#listeners.get(type) ?? [];
      const i = current.indexOf(listener as Listener<never>);
      if (i >= 0) this.#listeners.set(type, current.toSpliced(i, 1));
    };
  }

  /** Whether anyone listens: lets a hot path skip building an event nobody hears. */
  listened(type: keyof RuntimeEventMap): boolean {
    return (this.#listeners.get(type)?.length ?? 0) > 0;
  }

  emit<K extends keyof RuntimeEventMap>(type: K, event: RuntimeEventMap[K]): void {
    const list = this.#listeners.get(type) as Listener<RuntimeEventMap[K]>[] | undefined;
    if (list === undefined || list.length === 0) return;
    for (const listener of list) {
      try {
        listener(event);
      } catch (err) {
        process.emitWarning(`runtime event listener for '${type}' threw: ${String(err)}`);
      }
    }
  }
}
