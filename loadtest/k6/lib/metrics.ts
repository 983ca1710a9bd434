/**
 * The run's custom metrics. k6 only allows creating metrics in the init context, which
 * importing this module is part of; every script that imports it shares the names.
 */
import { Counter, Rate, Trend } from 'k6/metrics';
import { type Env, text } from './config.ts';

/** Media frame sent → its media_ack back, ms (the node's acknowledgement, not the echo). */
export const mediaRtt = new Trend('media_rtt', true);
/** invite sent → answered, ms. */
export const callSetup = new Trend('call_setup', true);
/** Per call, at its end: media frames sent that no media_ack came back for. */
export const lostMedia = new Counter('lost_media');
/** Connections or calls that ended other than by the script: tagged with a `reason`. */
export const droppedSessions = new Counter('dropped_sessions');
/** Error frames from the node: the script sent something the protocol refuses. */
export const protocolErrors = new Counter('protocol_errors');
export const mediaSent = new Counter('media_sent');
/** Calls the script hung up itself and saw end `normal`: tagged with the callee. */
export const callsCompleted = new Counter('calls_completed');
/** `registered` frames: tagged with the `release` the session code runs. */
export const sessionsRegistered = new Counter('sessions_registered');
/** 1 when an install (or rollback) ended as the script expected: tagged with the `outcome`. */
export const installOutcome = new Rate('install_outcome');
/** POST install → an outcome, ms. */
export const installDuration = new Trend('install_duration', true);

/**
 * The pass/fail lines for a run of phones. The timing limits can be raised with RTT_P99_MS
 * and SETUP_P99_MS for a slow or shared machine; the counts never.
 */
export function phoneThresholds(env: Env): Record<string, string[]> {
  return {
    dropped_sessions: ['count==0'],
    lost_media: ['count==0'],
    protocol_errors: ['count==0'],
    media_rtt: [`p(99)<${text(env, 'RTT_P99_MS', '50')}`],
    call_setup: [`p(99)<${text(env, 'SETUP_P99_MS', '500')}`],
  };
}

/** p(99) is not in k6's default summary stats; the thresholds and the summary want it. */
export const summaryTrendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
