/**
 * Synthetic releases for the release tests: one gen_server, 'worker', in three versions whose
 * codeChange reshapes its state (1.0.0 `{ n, log }` → 2.0.0 `{ count, history, extra }` →
 * 3.0.0 `{ total, entries }`). Every message a worker handles goes into its log as
 * `version:seq`, so a test sees which code handled what, and in which order.
 */
import { RELEASE_API_VERSION, type ReleaseModule } from '../../server/release/module.ts';
import {
  type AnyBehaviour,
  type Behaviour,
  type CodeChangeFrom,
  noreply,
  reply,
} from '../../server/runtime/index.ts';

export type WorkerCast =
  | { type: 'msg'; seq: number }
  /** Handled by an async callback: the worker stays busy until the next event-loop turn. */
  | { type: 'slow'; seq: number }
  /** Crashes versions made with `crashOnBoom`; the others log it like any message. */
  | { type: 'boom'; seq: number }
  /** Versions made with `errorOnOops` report an error (and carry on); all log it like any message. */
  | { type: 'oops'; seq: number };

export interface WorkerMessages {
  call: { type: 'state' };
  reply: unknown;
  cast: WorkerCast;
  info: unknown;
}

export interface V1 {
  n: number;
  log: string[];
}

export interface V2 {
  count: number;
  history: string[];
  extra: unknown;
}

export interface V3 {
  total: number;
  entries: string[];
}

export interface VersionOptions {
  /** codeChange throws for states this picks (checked on the state it migrates from). */
  failMigration?: (state: unknown) => boolean;
  /** handleCast of a `boom` message changes the state in place, then throws. */
  crashOnBoom?: boolean;
  /** handleCast of an `oops` message reports an error through its context, then goes on. */
  errorOnOops?: boolean;
  /** What a `slow` message waits for (default: the next event-loop turn). */
  slowUntil?: () => Promise<unknown>;
}

type Shape<S> = {
  init: (n: number) => S;
  bump: (state: S, entry: string) => void;
  /** State written by the version below (up) or above (down) → this version's. */
  up?: (state: unknown, extra: unknown) => S;
  down?: (state: S) => unknown;
  below?: string;
};

function behaviour<S>(
  version: string,
  shape: Shape<S>,
  o: VersionOptions,
): Behaviour<S, number, WorkerMessages> {
  const log = (state: S, seq: number) => shape.bump(state, `${version}:${seq}`);
  const b: Behaviour<S, number, WorkerMessages> = {
    name: 'worker',
    version,
    init: shape.init,
    handleCast(message, state, ctx) {
      if (message.type === 'oops' && o.errorOnOops)
        ctx.reportError(new Error(`worker ${version} failed on oops ${message.seq}`));
      if (message.type === 'boom' && o.crashOnBoom) {
        // Damage the state first: the crash guard must put the old one back.
        shape.bump(state, `${version}:damaged`);
        throw new Error(`worker ${version} cannot take boom ${message.seq}`);
      }
      log(state, message.seq);
      if (message.type === 'slow') {
        const wait = o.slowUntil?.() ?? new Promise((resolve) => setImmediate(resolve));
        return wait.then(() => noreply(state));
      }
      return noreply(state);
    },
    handleCall: (_message, _from, state) => reply(state, state),
  };
  const { up, down, below } = shape;
  if (up !== undefined || down !== undefined) {
    b.codeChange = (from: CodeChangeFrom, state: unknown, extra: unknown): S => {
      if (o.failMigration?.(state)) throw new Error(`worker ${version} refuses to migrate this state`);
      if (from === below && up !== undefined) return up(state, extra);
      if (typeof from === 'object' && down !== undefined) return down(state as S) as S;
      throw new Error(`worker ${version} cannot migrate from ${JSON.stringify(from)}`);
    };
  }
  return b;
}

const release = (
  version: string,
  b: AnyBehaviour,
  appup: Pick<ReleaseModule, 'upgradeFrom' | 'downgradeTo'>,
): ReleaseModule => ({ version, apiVersion: RELEASE_API_VERSION, behaviours: [b], ...appup });

/** Each call makes fresh behaviour objects, as loading a release's code afresh does. */
export function release1(o: VersionOptions = {}): ReleaseModule {
  const b = behaviour<V1>(
    '1.0.0',
    {
      init: (n) => ({ n, log: [] }),
      bump: (s, e) => {
        s.n++;
        s.log.push(e);
      },
    },
    o,
  );
  return release('1.0.0', b, { upgradeFrom: [], downgradeTo: [] });
}

export const EXTRA_1_TO_2 = { reason: 'reshape', at: 2 };

export function release2(o: VersionOptions = {}): ReleaseModule {
  const b = behaviour<V2>(
    '2.0.0',
    {
      init: (n) => ({ count: n, history: [], extra: null }),
      bump: (s, e) => {
        s.count++;
        s.history.push(e);
      },
      below: '1.0.0',
      up: (state, extra) => {
        const s = state as V1;
        return { count: s.n, history: s.log, extra };
      },
      down: (s): V1 => ({ n: s.count, log: s.history }),
    },
    o,
  );
  return release('2.0.0', b, {
    upgradeFrom: [
      { version: '1.0.0', changes: [{ module: 'worker', action: 'migrate', extra: EXTRA_1_TO_2 }] },
    ],
    downgradeTo: [{ version: '1.0.0', changes: [{ module: 'worker', action: 'migrate' }] }],
  });
}

export function release3(o: VersionOptions = {}): ReleaseModule {
  const b = behaviour<V3>(
    '3.0.0',
    {
      init: (n) => ({ total: n, entries: [] }),
      bump: (s, e) => {
        s.total++;
        s.entries.push(e);
      },
      below: '2.0.0',
      up: (state) => {
        const s = state as V2;
        return { total: s.count, entries: s.history };
      },
      down: (s): V2 => ({ count: s.total, history: s.entries, extra: null }),
    },
    o,
  );
  return release('3.0.0', b, {
    upgradeFrom: [{ version: '2.0.0', changes: [{ module: 'worker', action: 'migrate' }] }],
    downgradeTo: [{ version: '2.0.0', changes: [{ module: 'worker', action: 'migrate' }] }],
  });
}

/** The sequence numbers in a worker's log, whatever version wrote each entry. */
export function seqsOf(log: string[]): number[] {
  return log.filter((e) => !e.endsWith(':damaged')).map((e) => Number(e.split(':')[1]));
}

/** A worker's log, whichever version's state shape it is in. */
export function logOf(state: unknown): string[] {
  const s = state as Partial<V1 & V2 & V3>;
  return s.log ?? s.history ?? s.entries ?? [];
}
