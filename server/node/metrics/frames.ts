/**
 * Frames to and from phones, by type, and the error frames sent, by code: counted per frame.
 * Invites refused for the call-attempt limit are counted too (they write no CDR), as
 * telecom systems count ineffective call attempts.
 */
import { Counter, type Registry } from 'prom-client';
import { phoneProtocolErrorCodes } from '../../errors/catalogue.ts';
import { plainCounter } from './plain.ts';

export interface FrameTotals {
  received: number;
  sent: number;
  protocolErrors: number;
}

export interface FrameMetrics {
  received(type: string): void;
  sent(type: string): void;
  protocolError(code: string): void;
  callAttemptRefused(): void;
  /** Frames counted since start, for the observer's rates (read without a scrape). */
  totals(): FrameTotals;
}

export function frameMetrics(registry: Registry): FrameMetrics {
  const received = plainCounter(
    registry,
    'hotline_frames_received_total',
    'Valid frames from phones, by message type',
    'type',
  );
  const sent = plainCounter(
    registry,
    'hotline_frames_sent_total',
    'Frames sent to phones, by message type',
    'type',
  );
  const protocolErrors = plainCounter(
    registry,
    'hotline_protocol_errors_total',
    'Error frames sent to phones, by code',
    'code',
    phoneProtocolErrorCodes,
  );
  const refused = new Counter({
    name: 'hotline_call_attempts_refused_total',
    help: 'Invites refused for the per-user call-attempt limit; they reach no session and write no CDR',
    registers: [registry],
  });
  return {
    callAttemptRefused: () => refused.inc(),
    received: received.count,
    sent: sent.count,
    protocolError: protocolErrors.count,
    totals: () => ({
      received: received.total(),
      sent: sent.total(),
      protocolErrors: protocolErrors.total(),
    }),
  };
}
