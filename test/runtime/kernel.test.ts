/**
 * The seams of the kernel in parts: the boot step that loads the supervisors, a module
 * graph in which the dispatch core loads no behaviour and pids and behaviours do not
 * import each other, and a process that code outside the runtime can read but not change.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootKernel, KERNEL_BEHAVIOURS } from '../../server/runtime/boot.ts';
import {
  application,
  dynamicSupervisor,
  kill,
  type Pid,
  Runtime,
  supervisor,
} from '../../server/runtime/index.ts';
import { ModuleTable } from '../../server/runtime/module-table.ts';
import { newRuntime, recorder, settleBriefly } from '../support/runtime.ts';

const runtimeDir = new URL('../../server/runtime/', import.meta.url).pathname;

/** The runtime modules `file` imports; with `values`, only those it loads at run time (no `import type`). */
function importsOf(file: string, values: boolean): string[] {
  const source = readFileSync(join(runtimeDir, file), 'utf8');
  const out: string[] = [];
  for (const m of source.matchAll(/^(import|export)(\s+type)?\s[^;]*?from '(\.\/[^']+)';/gms)) {
    if (values && m[2] !== undefined) continue;
    out.push(join(dirname(file), m[3] as string));
  }
  return out;
}

/** Every runtime module `file` loads at run time, itself included. */
function loads(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const next of importsOf(f, true)) visit(next);
  };
  visit(file);
  return seen;
}

describe('the boot step', () => {
  it('loads the supervisors and the application master, and nothing else', () => {
    const modules = new ModuleTable();
    expect(modules.versions()).toEqual([]);
    bootKernel(modules);
    expect(KERNEL_BEHAVIOURS).toEqual([supervisor, dynamicSupervisor, application]);
    expect(modules.versions()).toEqual(
      KERNEL_BEHAVIOURS.map((b) => ({ module: b.name, version: b.version, processes: 0, current: true })),
    );
    for (const b of KERNEL_BEHAVIOURS) expect(modules.get(b.name)).toBe(b);
  });

  it('is what a new runtime starts with, so supervisors start by name', async () => {
    const rt = new Runtime();
    expect(rt.modules.versions().map((v) => v.module)).toEqual(KERNEL_BEHAVIOURS.map((b) => b.name));
    const sup = rt.spawn('supervisor', { strategy: 'one_for_one', children: [] });
    expect(rt.lookup(sup)?.behaviour).toBe(supervisor);
    rt.exit(sup, kill);
    await settleBriefly(rt);
    expect(rt.isAlive(sup)).toBe(false);
  });

  it('is the only way the kernel loads a behaviour: its parts load no supervisor module', () => {
    const kernel = loads('kernel.ts');
    for (const part of ['dispatch.ts', 'process-table.ts', 'links.ts', 'pending-calls.ts', 'remote.ts'])
      expect(kernel).toContain(part);
    for (const behaviour of ['supervisor.ts', 'dynamic-supervisor.ts', 'application.ts', 'boot.ts'])
      expect(kernel).not.toContain(behaviour);
    expect(loads('runtime.ts')).toContain('boot.ts');
  });
});

describe('the module graph', () => {
  it('has pids and behaviours apart: MessageMap is a module of its own that both import', () => {
    expect(importsOf('pid.ts', false)).toEqual(['message-map.ts']);
    expect(importsOf('message-map.ts', false)).toEqual([]);
    expect(importsOf('behaviour.ts', false)).toContain('message-map.ts');
  });
});

describe('a process seen from outside the runtime', () => {
  it('can be read, but its flags cannot be written even past the types', () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder);
    const p = rt.lookup(pid);
    if (p === undefined) throw new Error('not alive');
    expect([p.self, p.status, p.suspended, p.busy, p.dead, p.trapExits]).toEqual([
      pid,
      'waiting',
      false,
      false,
      false,
      false,
    ]);
    const writable = p as unknown as Record<string, unknown>;
    for (const flag of ['suspended', 'busy', 'dead', 'trapExits', 'behaviour', 'name', 'links', 'handled'])
      expect(() => {
        writable[flag] = true;
      }, flag).toThrow(TypeError);
    expect([p.suspended, p.busy, p.dead, p.trapExits, p.behaviour, p.name]).toEqual([
      false,
      false,
      false,
      false,
      recorder,
      undefined,
    ]);
  });

  it('offers no write and no kernel step to the type checker', () => {
    const rt = newRuntime();
    const p = rt.lookup(rt.spawn(recorder));
    if (p === undefined) throw new Error('not alive');
    // Type-level checks: the calls below are never made, but the file does not compile if
    // any of them is allowed (tsc checks the tests).
    const attempts = (other: Pid) => {
      // @ts-expect-error a flag of the view is read-only
      p.suspended = true;
      // @ts-expect-error the state is the kernel's to set
      p.state = {};
      // @ts-expect-error the code is changed through sys, not by hand
      p.behaviour = recorder;
      // @ts-expect-error kernel steps are not part of the view
      p.suspend();
      // @ts-expect-error nor is the mailbox
      p.deliver('info', 'x', null);
      // @ts-expect-error bookkeeping sets are read-only
      p.links?.add(other);
      // @ts-expect-error the scheduler's mark is not part of the view
      p.queued = true;
    };
    expect(typeof attempts).toBe('function');
  });
});
