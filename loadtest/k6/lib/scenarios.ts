/** The two kinds of scenario every script runs: the phones, and one VU acting on the node. */
import type { Scenario } from 'k6/options';
import { count, duration, durationText, type Env, type PhoneSettings, sessionBudgetMs } from './config.ts';

/** PHONES phones for DURATION, each running `exec`. */
export function phonesScenario(env: Env, phone: PhoneSettings, exec: string): Scenario {
  return {
    executor: 'constant-vus',
    exec,
    vus: count(env, 'PHONES', 20),
    duration: durationText(duration(env, 'DURATION', '60s')),
    // A phone mid-call at the end finishes its calls (and its CDRs) rather than being cut off.
    gracefulStop: durationText(sessionBudgetMs(phone)),
  };
}

/** One VU, one iteration of `exec`, starting at `startTime`, given at most `maxMs`. */
export function adminScenario(exec: string, startTime: string, maxMs: number): Scenario {
  return {
    executor: 'per-vu-iterations',
    exec,
    vus: 1,
    iterations: 1,
    startTime,
    maxDuration: durationText(maxMs),
  };
}
