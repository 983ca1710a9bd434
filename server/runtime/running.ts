/**
 * What the runtime is running now, in shared memory: the pid, behaviour, version, kind and
 * message type of the callback that handles a message, readable from another thread while
 * this one is stuck in it (a watchdog: server/node/watchdog.ts). Generic: names are strings
 * the runtime sees (behaviour names and versions, a message's `type` or the message itself
 * when it is a string), interned once into a table in the same buffer.
 *
 * Cost on the dispatch path: a few plain stores per message into a preallocated buffer, and
 * a map lookup only when the message type or the behaviour differs from the last one's. No
 * Atomics: the reader looks only once this thread has stopped moving for seconds.
 */

/** Kind of callback running, as stored. */
export const RUNNING_KINDS = ['idle', 'cast', 'call', 'info'] as const;
export type RunningKind = (typeof RUNNING_KINDS)[number];

export interface RunningCallback {
  /** A callback was running (false: the thread was between callbacks, and the rest is the last one's). */
  inCallback: boolean;
  pid: string;
  behaviour: string;
  version: string;
  kind: RunningKind;
  /** The message's `type` (or the message, when it is a string); '' when it has none. */
  message: string;
}

// Layout: the pid's serial as a float64, then int32 slots, then the name table.
const PID_BYTES = 8;
const SLOTS = 5;
const [NODE, BEHAVIOUR, VERSION, KIND, MESSAGE] = [0, 1, 2, 3, 4];
const TABLE_START = PID_BYTES + SLOTS * 4;
/** Room for the names: behaviours, versions and message types are few; more are not named. */
const TABLE_BYTES = 32 * 1024;
/** A longer name is cut: a string message can be anything. */
const MAX_NAME_BYTES = 80;
/** Message types may fill only this much of the table, so a release installed later still gets its names. */
const MESSAGE_TABLE_BYTES = TABLE_BYTES / 2;
/** Table offset 0: no name (none yet, none given, or the table is full). */
const UNNAMED = 0;

const kindCode = { cast: 1, call: 2, info: 3 } as const;

/** The message's type, without letting a hostile message (a throwing getter) escape the scheduler. */
function typeOf(message: unknown): string | undefined {
  if (typeof message === 'string') return message;
  if (typeof message !== 'object' || message === null) return undefined;
  try {
    const type = (message as { type?: unknown }).type;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The writer's side, owned by the dispatch loop. TypeScript-private fields, not `#` ones:
 * this runs for every message (see process-record.ts).
 */
export class RunningRecord {
  readonly buffer = new SharedArrayBuffer(TABLE_START + TABLE_BYTES);
  private readonly _pid = new Float64Array(this.buffer, 0, 1);
  private readonly _slots = new Int32Array(this.buffer, PID_BYTES, SLOTS);
  private readonly _table = new Uint8Array(this.buffer, TABLE_START);
  private readonly _ids = new Map<string, number>();
  // Offset 0 stays empty: it means "no name".
  private _used = 1;
  private _lastBehaviour: unknown = undefined;
  private _lastType: string | undefined = undefined;
  private _lastTypeId = UNNAMED;

  constructor(node: string) {
    this._slots[NODE] = this._intern(node, TABLE_BYTES);
  }

  /** A process takes its turn: `serial` is the number in its pid. */
  process(serial: number, behaviour: { name: string; version: string }): void {
    this._pid[0] = serial;
    if (behaviour !== this._lastBehaviour) {
      this._lastBehaviour = behaviour;
      this._slots[BEHAVIOUR] = this._intern(behaviour.name, TABLE_BYTES);
      this._slots[VERSION] = this._intern(behaviour.version, TABLE_BYTES);
    }
  }

  /** Its callback for `message` starts. */
  message(kind: 'cast' | 'call' | 'info', message: unknown): void {
    const slots = this._slots;
    slots[KIND] = kindCode[kind];
    const type = typeOf(message);
    if (type !== this._lastType) {
      this._lastType = type;
      this._lastTypeId = type === undefined ? UNNAMED : this._intern(type, MESSAGE_TABLE_BYTES);
    }
    slots[MESSAGE] = this._lastTypeId;
  }

  /** The turn is over: no callback runs. */
  idle(): void {
    this._slots[KIND] = 0;
  }

  /** Offset of `name` in the table, written there on first sight (UNNAMED once `limit` bytes are used). */
  private _intern(name: string, limit: number): number {
    const known = this._ids.get(name);
    if (known !== undefined) return known;
    const at = this._used;
    if (at + 1 + MAX_NAME_BYTES > limit) return UNNAMED;
    // Encoded into a private buffer first: encodeInto may not write to shared memory.
    const bytes = new TextEncoder().encode(name).subarray(0, MAX_NAME_BYTES);
    this._table[at] = bytes.length;
    this._table.set(bytes, at + 1);
    this._used = at + 1 + bytes.length;
    this._ids.set(name, at);
    return at;
  }
}

/** The reader's side: what `buffer` (a RunningRecord's) says now. */
export function readRunning(buffer: SharedArrayBuffer): RunningCallback {
  const slots = new Int32Array(buffer, PID_BYTES, SLOTS);
  const table = new Uint8Array(buffer, TABLE_START);
  // Decoded from a private copy: TextDecoder does not read shared memory.
  const name = (at: number) =>
    at === UNNAMED ? '' : new TextDecoder().decode(table.slice(at + 1, at + 1 + (table[at] ?? 0)));
  const serial = new Float64Array(buffer, 0, 1)[0] ?? 0;
  const kind = RUNNING_KINDS[slots[KIND] ?? 0] ?? 'idle';
  return {
    inCallback: kind !== 'idle',
    pid: `<${serial}@${name(slots[NODE] ?? 0)}>`,
    behaviour: name(slots[BEHAVIOUR] ?? 0),
    version: name(slots[VERSION] ?? 0),
    kind,
    message: name(slots[MESSAGE] ?? 0),
  };
}
