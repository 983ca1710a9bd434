/**
 * Named processes (OTP's register/whereis). A name is released when its process ends.
 * In a cluster, names a `NameDirectory` covers (users) are registered there as well and
 * looked up there after the local names.
 */
import { hotlineError } from '../errors/catalogue.ts';
import type { NameDirectory } from './distribution.ts';
import type { Pid } from './pid.ts';

export class Registry {
  #byName = new Map<string, Pid>();
  #directory: NameDirectory | undefined = undefined;
  /** While a handoff runs: the names of the processes still in the other runtime of this node. */
  #elsewhere: ReadonlyMap<string, Pid> | undefined = undefined;

  /** Consult `directory` for the names it covers from now on. */
  join(directory: NameDirectory | undefined): void {
    this.#directory = directory;
  }

  /** Throw unless `name` could be registered now. */
  check(name: string): void {
    // A name that looks like a pid would be read as one by send and call.
    if (typeof name !== 'string' || name === '' || name.startsWith('<'))
      throw hotlineError('HOT_ERR_INVALID_NAME', String(name));
    if (this.#byName.has(name)) throw hotlineError('HOT_ERR_NAME_TAKEN', name);
  }

  register(name: string, pid: Pid): void {
    if (this.#directory?.covers(name)) {
      this.check(name);
      this.#directory.register(name, pid);
    }
    this.check(name);
    this.#byName.set(name, pid);
  }

  unregister(name: string, pid: Pid): void {
    if (this.#byName.get(name) === pid) this.#byName.delete(name);
    if (this.#directory?.covers(name)) this.#directory.unregister(name, pid);
  }

  /**
   * The name of a process restored here from another runtime of this node: the directory
   * is told only if it does not know the name as this pid's already.
   */
  adopt(name: string, pid: Pid): void {
    this.check(name);
    if (this.#directory?.covers(name) && this.#directory.whereis(name) !== pid)
      this.#directory.register(name, pid);
    this.#byName.set(name, pid);
  }

  /** Drop a local name and nothing else: the process lives on elsewhere under it. */
  forget(name: string, pid: Pid): void {
    if (this.#byName.get(name) === pid) this.#byName.delete(name);
  }

  /**
   * Names the other runtime of this node has (a handoff's peer, see move-api.ts): looked up
   * after the local ones, so a process that moved ahead of a named one still reaches it by
   * name. Undefined: none.
   */
  elsewhere(names: ReadonlyMap<string, Pid> | undefined): void {
    this.#elsewhere = names;
  }

  /** A local name first; then the other runtime's during a handoff; then, for the names it covers, the cluster's directory. */
  whereis(name: string): Pid | undefined {
    const pid = this.#byName.get(name) ?? this.#elsewhere?.get(name);
    if (pid !== undefined || this.#directory === undefined || !this.#directory.covers(name)) return pid;
    return this.#directory.whereis(name);
  }

  /** A pid, or the pid a registered name stands for: an unknown name is an error. */
  resolve(to: Pid | string): Pid {
    if (to.charCodeAt(0) === 60 /* < */) return to as Pid;
    const pid = this.whereis(to);
    if (pid === undefined) throw hotlineError('HOT_ERR_NOPROC', to);
    return pid;
  }

  /** The local names. */
  names(): [string, Pid][] {
    return [...this.#byName];
  }
}
