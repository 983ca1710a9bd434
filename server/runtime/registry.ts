/** Named processes (OTP's register/whereis). A name is released when its process ends. */
import { hotlineError } from '../errors/catalogue.ts';
import type { Pid } from './pid.ts';

export class Registry {
  #byName = new Map<string, Pid>();

  /** Throw unless `name` could be registered now. */
  check(name: string): void {
    // A name that looks like a pid would be read as one by send and call.
    if (typeof name !== 'string' || name === '' || name.startsWith('<'))
      throw hotlineError('HOT_ERR_INVALID_NAME', String(name));
    if (this.#byName.has(name)) throw hotlineError('HOT_ERR_NAME_TAKEN', name);
  }

  register(name: string, pid: Pid): void {
    this.check(name);
    this.#byName.set(name, pid);
  }

  unregister(name: string, pid: Pid): void {
    if (this.#byName.get(name) === pid) this.#byName.delete(name);
  }

  whereis(name: string): Pid | undefined {
    return this.#byName.get(name);
  }

  names(): [string, Pid][] {
    return [...this.#byName];
  }
}
