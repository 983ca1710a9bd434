/**
 * Test releases of three modules, for installs whose appup edge changes some modules and not
 * others: 'worker' is migrated (workers.ts's, its state reshaped), 'cache' is only reloaded
 * (same state shape; its codeChange throws, so a reload that ran it would show), 'echo' is
 * unchanged. Their change lists are mixed2's appup, as a release's manifest says them.
 */
import type { ReleaseModule } from '../../server/release/module.ts';
import { type AnyBehaviour, type Behaviour, noreply, reply } from '../../server/runtime/index.ts';
import { EXTRA_1_TO_2, release1, release2 } from './workers.ts';

/** A module that logs each cast as `version:seq` and whose state shape never changes. */
export interface Logged {
  seen: string[];
}

type LoggedMessages = { call: 'state'; reply: Logged; cast: { seq: number }; info: unknown };

function logged(name: string, version: string): AnyBehaviour {
  const b: Behaviour<Logged, void, LoggedMessages> = {
    name,
    version,
    init: () => ({ seen: [] }),
    handleCast(message, state) {
      state.seen.push(`${version}:${message.seq}`);
      return noreply(state);
    },
    handleCall: (_m, _from, state) => reply(state, state),
    codeChange: () => {
      throw new Error(`${name} ${version}: codeChange must not run`);
    },
  };
  return b as AnyBehaviour;
}

const modulesOf = (r: ReleaseModule, version: string): AnyBehaviour[] => [
  r.behaviours[0] as AnyBehaviour,
  logged('cache', version),
  logged('echo', version),
];

/** Fresh behaviour objects on each call, as loading a release afresh makes. */
export function mixed1(): ReleaseModule {
  return { ...release1(), behaviours: modulesOf(release1(), '1.0.0') };
}

/** 1.0.0 → 2.0.0 and back: worker migrated, cache reloaded, echo unchanged. */
export function mixed2(): ReleaseModule {
  return {
    ...release2(),
    behaviours: modulesOf(release2(), '2.0.0'),
    upgradeFrom: [
      {
        version: '1.0.0',
        changes: [
          { module: 'worker', action: 'migrate', extra: EXTRA_1_TO_2 },
          { module: 'cache', action: 'reload' },
        ],
      },
    ],
    downgradeTo: [
      {
        version: '1.0.0',
        changes: [
          { module: 'worker', action: 'migrate' },
          { module: 'cache', action: 'reload' },
        ],
      },
    ],
  };
}

/** The steps of a full install's plan, and of a canary install's, in order. */
export const FULL_STEPS = [
  'load',
  'check',
  'preflight',
  'point_of_no_return',
  'move',
  'watch',
  'make_current',
];
export const CANARY_STEPS = [
  'load',
  'check',
  'preflight',
  'point_of_no_return',
  'move_canary',
  'await_promote',
  'move_rest',
  'watch',
  'make_current',
];
