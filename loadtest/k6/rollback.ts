/**
 * The way back under load: PHONES phones as in calls.ts, and at UPGRADE_AT a canary install of
 * RELEASE (CANARY_FRACTION of the sessions), held for CANARY_HOLD and then rolled back over
 * POST /admin/install/rollback. Passes when the install ends rolled_back and no phone noticed.
 */
import type { Options } from 'k6/options';
import { installRelease } from './lib/admin.ts';
import { adminSettings, count, duration, phoneSettings, text } from './lib/config.ts';
import { phoneThresholds, summaryTrendStats } from './lib/metrics.ts';
import { runPhone } from './lib/phone.ts';
import { adminScenario, phonesScenario } from './lib/scenarios.ts';
import { type SummaryData, summaryOutputs } from './lib/summary.ts';

const phone = phoneSettings(__ENV);
const admin = adminSettings(__ENV);
if (admin.release === null) throw new Error('rollback.ts needs RELEASE: the version to canary and roll back');
const holdMs = duration(__ENV, 'CANARY_HOLD', '10s');

export const options: Options = {
  scenarios: {
    phones: phonesScenario(__ENV, phone, 'phones'),
    rollback: adminScenario('canaryThenRollback', admin.upgradeAt, admin.timeoutMs + holdMs + 30_000),
  },
  thresholds: { ...phoneThresholds(__ENV), install_outcome: ['rate==1'] },
  summaryTrendStats,
};

export async function phones(): Promise<void> {
  await runPhone(phone, __VU, __ITER);
}

export function canaryThenRollback(): void {
  installRelease(admin, {
    request: { mode: 'canary', canaryFraction: count(__ENV, 'CANARY_FRACTION', 0.5) },
    canary: { holdMs, decision: 'rollback' },
    expect: 'rolled_back',
  });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(data, 'hotline k6 rollback', text(__ENV, 'SUMMARY_JSON', 'summary.json'));
}
