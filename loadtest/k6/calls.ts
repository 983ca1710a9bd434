/**
 * Hotline under k6: PHONES phones (one VU each) in echo and IVR calls with media for DURATION,
 * and, when RELEASE is set, one admin VU that hot-installs it at UPGRADE_AT while they talk.
 * Passes when no session or call dropped, no media frame went unacknowledged, and media round
 * trips and call setups stay fast. See README.md beside this file for the variables.
 */
import type { Options } from 'k6/options';
import { installRelease } from './lib/admin.ts';
import { adminSettings, phoneSettings, text } from './lib/config.ts';
import { phoneThresholds, summaryTrendStats } from './lib/metrics.ts';
import { runPhone } from './lib/phone.ts';
import { adminScenario, phonesScenario } from './lib/scenarios.ts';
import { type SummaryData, summaryOutputs } from './lib/summary.ts';

const phone = phoneSettings(__ENV);
const admin = adminSettings(__ENV);
const installTimeoutMs = admin.timeoutMs + 30_000;

export const options: Options = {
  scenarios: {
    phones: phonesScenario(__ENV, phone, 'phones'),
    ...(admin.release === null
      ? {}
      : { install: adminScenario('install', admin.upgradeAt, installTimeoutMs) }),
  },
  thresholds: {
    ...phoneThresholds(__ENV),
    ...(admin.release === null ? {} : { install_outcome: ['rate==1'] }),
  },
  summaryTrendStats,
};

export async function phones(): Promise<void> {
  await runPhone(phone, __VU, __ITER);
}

export function install(): void {
  installRelease(admin, {
    request: admin.watchMs === null ? {} : { watchMs: admin.watchMs },
    expect: 'installed',
  });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryOutputs(data, 'hotline k6 calls', text(__ENV, 'SUMMARY_JSON', 'summary.json'));
}
