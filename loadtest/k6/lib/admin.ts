/**
 * The admin side of a run: start an install over the admin API (k6/http, synchronous, so it
 * belongs in a VU of its own), follow GET /admin/install to its outcome, optionally decide a
 * canary, and record the outcome as a metric and a check.
 */
import { check, sleep } from 'k6';
import http from 'k6/http';
import type { AdminSettings } from './config.ts';
import { installDuration, installOutcome } from './metrics.ts';
import type { InstallProgress } from './protocol.ts';

/** The body of POST /admin/releases/:version/install. */
export interface InstallRequest {
  mode?: 'full' | 'canary';
  canaryFraction?: number;
  watchMs?: number;
  maxCrashes?: number;
}

export interface InstallPlan {
  request: InstallRequest;
  /** Canary mode: once the canary waits, hold this long (ms), then promote or roll back. */
  canary?: { holdMs: number; decision: 'promote' | 'rollback' };
  /** The outcome that counts as a success. */
  expect: 'installed' | 'rolled_back' | 'aborted';
}

function headers(a: AdminSettings): Record<string, string> {
  return { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' };
}

function progressOf(body: string | null): InstallProgress | null {
  if (body === null || body === '') return null;
  try {
    return (JSON.parse(body) as { install?: InstallProgress }).install ?? null;
  } catch {
    return null;
  }
}

/** Install `a.release` as `plan` says; the progress it ended with, or null if it never started. */
export function installRelease(a: AdminSettings, plan: InstallPlan): InstallProgress | null {
  const { release } = a;
  if (release === null) throw new Error('RELEASE is not set');
  const startedAt = Date.now();
  const record = (outcome: string, p: InstallProgress | null): InstallProgress | null => {
    installOutcome.add(outcome === plan.expect, { outcome, release });
    check(p, { [`install of ${release} ended ${plan.expect}`]: (x) => x?.outcome === plan.expect });
    if (outcome !== plan.expect)
      console.error(`install of ${release}: ${outcome}, expected ${plan.expect}: ${JSON.stringify(p)}`);
    return p;
  };

  const res = http.post(`${a.adminUrl}/admin/releases/${release}/install`, JSON.stringify(plan.request), {
    headers: headers(a),
    tags: { name: 'install' },
  });
  const started = progressOf(res.body as string | null);
  if (res.status !== 202 || started === null) {
    console.error(`POST install ${release} answered ${res.status}: ${String(res.body)}`);
    return record(`http_${res.status}`, null);
  }

  let decided = false;
  let canaryAt: number | null = null;
  for (;;) {
    sleep(a.pollMs / 1000);
    const r = http.get(`${a.adminUrl}/admin/install`, {
      headers: headers(a),
      tags: { name: 'install_status' },
    });
    const p = progressOf(r.body as string | null);
    // Another install (a later one, by someone else) is not ours to judge.
    if (p !== null && p.id !== started.id) return record('superseded', p);
    if (p?.outcome != null) {
      installDuration.add(Date.now() - startedAt, { release });
      return record(p.outcome, p);
    }
    if (p !== null && plan.canary !== undefined && p.phase === 'canary' && !decided) {
      canaryAt ??= Date.now();
      if (Date.now() - canaryAt >= plan.canary.holdMs) {
        decided = true;
        const d = http.post(`${a.adminUrl}/admin/install/${plan.canary.decision}`, '{}', {
          headers: headers(a),
          tags: { name: `install_${plan.canary.decision}` },
        });
        check(d, { [`canary ${plan.canary.decision} accepted`]: (x) => x.status === 200 });
      }
    }
    if (Date.now() - startedAt > a.timeoutMs) return record('timeout', p);
  }
}
