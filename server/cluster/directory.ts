/**
 * The cluster's directory of names (users) in a JetStream key-value bucket: name → the pid
 * that holds it and its node. Every node keeps a copy in memory, fed by a watch on the
 * bucket, so `whereis` answers at once. Registering writes create-only: a name some other
 * node holds is refused at once from the copy, and a race lost in the bucket (two nodes
 * registering one name within milliseconds) ends the local process, as Erlang's `global`
 * resolves a clash by killing one side. Entries of a node that went away are deleted by
 * whoever notices first; the delete names the revision it saw, so it is harmless to repeat
 * and never removes a name registered again since.
 */
import type { JetStreamClient, KV, KvEntry, QueuedIterator } from 'nats';
import Type from 'typebox';
import { hotlineError } from '../errors/catalogue.ts';
import { kill, type NameDirectory, type Pid, pidNode, type Runtime } from '../runtime/index.ts';
import { encode, Pid as PidSchema, reader } from './wire.ts';

interface Entry {
  pid: Pid;
  node: string;
  /** Revision in the bucket; null while this node's own create is in flight. */
  revision: number | null;
}

interface StoredEntry {
  name: string;
  pid: Pid;
}
const readEntry = reader<StoredEntry>(Type.Object({ name: Type.String(), pid: PidSchema }));

// Keys may hold only [-/_=.A-Za-z0-9]: base64url of the name fits any name.
export const keyOf = (name: string): string => Buffer.from(name).toString('base64url');
const nameOf = (key: string): string => Buffer.from(key, 'base64url').toString();

export class Directory implements NameDirectory {
  readonly #copy = new Map<string, Entry>();
  /** This node's creates in flight: an unregister waits for the revision to delete. */
  readonly #claims = new Map<string, Promise<number | null>>();
  #watch: QueuedIterator<KvEntry> | undefined;

  private constructor(
    readonly kv: KV,
    readonly rt: Runtime,
    readonly covers: (name: string) => boolean,
    readonly malformed: () => void,
  ) {}

  /** Open (or create) the bucket and load it; resolves once the copy holds every entry. */
  static async open(
    js: JetStreamClient,
    rt: Runtime,
    options: { bucket: string; covers: (name: string) => boolean; malformed: () => void },
  ): Promise<Directory> {
    const kv = await js.views.kv(options.bucket, { history: 1 });
    const dir = new Directory(kv, rt, options.covers, options.malformed);
    await new Promise<void>((resolve, reject) => {
      kv.watch({ initializedFn: resolve }).then((watch) => {
        dir.#watch = watch;
        void dir.#follow(watch);
      }, reject);
    });
    return dir;
  }

  async #follow(watch: QueuedIterator<KvEntry>): Promise<void> {
    for await (const e of watch) {
      const name = nameOf(e.key);
      // A delete, or a value no node wrote (it names no process): the name is not held.
      const entry = e.operation === 'PUT' ? readEntry(e.value) : undefined;
      if (e.operation === 'PUT' && entry === undefined) this.malformed();
      if (entry === undefined) {
        this.#copy.delete(name);
        continue;
      }
      this.#copy.set(name, { pid: entry.pid, node: pidNode(entry.pid) ?? '', revision: e.revision });
    }
  }

  whereis(name: string): Pid | undefined {
    return this.#copy.get(name)?.pid;
  }

  register(name: string, pid: Pid): void {
    const held = this.#copy.get(name);
    if (held !== undefined && held.pid !== pid) throw hotlineError('HOT_ERR_NAME_TAKEN', name);
    this.#copy.set(name, { pid, node: this.rt.node, revision: null });
    const claim = this.kv.create(keyOf(name), encode({ name, pid } satisfies StoredEntry)).then(
      (revision) => revision,
      () => {
        // Someone else's create won: their entry comes through the watch.
        if (this.#copy.get(name)?.pid === pid) this.#copy.delete(name);
        if (this.rt.whereis(name) === pid) this.rt.exit(pid, kill);
        return null;
      },
    );
    this.#claims.set(name, claim);
    void claim.finally(() => {
      if (this.#claims.get(name) === claim) this.#claims.delete(name);
    });
  }

  unregister(name: string, pid: Pid): void {
    const entry = this.#copy.get(name);
    if (entry === undefined || entry.pid !== pid) return;
    this.#copy.delete(name);
    const claim = this.#claims.get(name) ?? Promise.resolve(entry.revision);
    void claim.then((revision) => (revision === null ? undefined : this.#delete(name, revision)));
  }

  /** Delete every entry held by `node` (a node gone, or this one's leftovers from before a crash). */
  async clean(node: string): Promise<number> {
    const stale = [...this.#copy].filter(([, e]) => e.node === node && e.revision !== null);
    await Promise.all(stale.map(([name, e]) => this.#delete(name, e.revision as number)));
    return stale.length;
  }

  /** Names held in the bucket, by node (for tests and the admin surface). */
  entries(): { name: string; pid: Pid; node: string }[] {
    return [...this.#copy].map(([name, e]) => ({ name, pid: e.pid, node: e.node }));
  }

  close(): void {
    this.#watch?.stop();
  }

  /** Only if the entry is still the one seen: a name registered again since stays. */
  async #delete(name: string, revision: number): Promise<void> {
    try {
      await this.kv.delete(keyOf(name), { previousSeq: revision });
      // The watch says so too, a moment later; a starting node takes phones as soon as its clean is done.
      if (this.#copy.get(name)?.revision === revision) this.#copy.delete(name);
    } catch {
      // Changed or deleted already, or NATS unavailable: the next node-down or start cleans it.
    }
  }
}
