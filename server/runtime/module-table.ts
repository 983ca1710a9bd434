/**
 * The code server: which version of each behaviour new processes start on, and how many
 * processes run each loaded version. A version no process runs is dropped from the table,
 * so its code can be garbage-collected (unlike an ES module, which Node never unloads).
 */

import { hotlineError } from '../errors/catalogue.ts';
import type { AnyBehaviour } from './behaviour.ts';

export interface ModuleVersionInfo {
  module: string;
  version: string;
  processes: number;
  current: boolean;
}

export class ModuleTable {
  #current = new Map<string, AnyBehaviour>();
  #running = new Map<AnyBehaviour, number>();

  /** Make `behaviour` the version that new processes of its name start on. */
  load(behaviour: AnyBehaviour): void {
    this.#current.set(behaviour.name, behaviour);
  }

  get(name: string): AnyBehaviour {
    const b = this.#current.get(name);
    if (!b) throw hotlineError('HOT_ERR_UNKNOWN_MODULE', name);
    return b;
  }

  /** The loaded `version` of `name`: the current one, or one that processes still run. */
  find(name: string, version: string): AnyBehaviour | undefined {
    const current = this.#current.get(name);
    if (current?.version === version) return current;
    for (const b of this.#running.keys()) if (b.name === name && b.version === version) return b;
    return undefined;
  }

  has(name: string): boolean {
    return this.#current.has(name);
  }

  retain(behaviour: AnyBehaviour): void {
    this.#running.set(behaviour, (this.#running.get(behaviour) ?? 0) + 1);
  }

  release(behaviour: AnyBehaviour): void {
    const n = (this.#running.get(behaviour) ?? 0) - 1;
    if (n > 0) this.#running.set(behaviour, n);
    else this.#running.delete(behaviour);
  }

  /** Processes running exactly this behaviour object. */
  count(behaviour: AnyBehaviour): number {
    return this.#running.get(behaviour) ?? 0;
  }

  /** Every version that is current or still runs somewhere. */
  versions(): ModuleVersionInfo[] {
    const seen = new Set<AnyBehaviour>([...this.#current.values(), ...this.#running.keys()]);
    return [...seen].map((b) => ({
      module: b.name,
      version: b.version,
      processes: this.count(b),
      current: this.#current.get(b.name) === b,
    }));
  }
}
