/**
 * One phone: a WebSocket to the node, registered under a user name of its own, placing calls
 * to the `echo` and `ivr` numbers with media flowing, hanging up after the call length.
 * Everything runs on the VU's event loop (k6/websockets and k6/timers), so a VU waits on
 * nothing but its own socket; `runPhone` resolves when the socket has closed and every timer
 * is cleared, which is when k6 ends the iteration.
 */
import { check } from 'k6';
import http from 'k6/http';
import {
  clearInterval,
  clearTimeout,
  type IntervalID,
  setInterval,
  setTimeout,
  type TimeoutID,
} from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import type { PhoneSettings } from './config.ts';
import {
  callSetup,
  callsCompleted,
  droppedSessions,
  lostMedia,
  mediaRtt,
  mediaSent,
  protocolErrors,
  sessionsRegistered,
} from './metrics.ts';
import type { ClientFrame, ServerFrame } from './protocol.ts';

export interface CallPlan {
  callId: string;
  to: 'echo' | 'ivr';
  /** For the IVR: the digit sent after its menu (one it answers without hanging up). */
  digit: string | null;
}

export interface SessionReport {
  user: string;
  /** The release from `registered`; null if the phone never registered. */
  release: string | null;
  completed: number;
  /** Why the connection or a call ended other than by the script; null when it did not. */
  dropped: string | null;
}

const IVR_DIGITS = ['1', '2', '9'];
// readyState values: k6's WebSocket constructor has no OPEN/CLOSED statics at run time,
// whatever @types/k6 declares.
const OPEN = 1;
const CLOSED = 3;

/** A user name per connection: a VU's next iteration must not wait for its old name to be freed. */
export function phoneUser(s: PhoneSettings, vu: number, iter: number): string {
  return `${s.userPrefix}-${s.runId}-${vu}-${iter}`;
}

/** The calls of one connection; the IVR gets every `ivrEvery`-th call of the VU. */
export function callPlans(s: PhoneSettings, user: string, iter: number): CallPlan[] {
  return Array.from({ length: s.callsPerSession }, (_, k): CallPlan => {
    const n = iter * s.callsPerSession + k;
    const ivr = s.ivrEvery > 0 && n % s.ivrEvery === s.ivrEvery - 1;
    return {
      callId: `${user}-${k + 1}`,
      to: ivr ? 'ivr' : 'echo',
      digit: ivr ? (IVR_DIGITS[n % IVR_DIGITS.length] ?? '1') : null,
    };
  });
}

/** One k6 iteration of a phone: get its token, connect, register, place its calls, close. */
export function runPhone(s: PhoneSettings, vu: number, iter: number): Promise<SessionReport> {
  const user = phoneUser(s, vu, iter);
  return phoneSession(s, user, callPlans(s, user, iter), phoneToken(s, user));
}

/** A phone token for `user` from the node's admin surface, as a client gets one before it connects. */
export function phoneToken(s: PhoneSettings, user: string): string | undefined {
  if (s.tokens === null) return undefined;
  const res = http.post(`${s.tokens.adminUrl}/admin/phone-tokens`, JSON.stringify({ user }), {
    headers: { authorization: `Bearer ${s.tokens.adminToken}`, 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`POST /admin/phone-tokens answered ${res.status}`);
  return (JSON.parse(res.body as string) as { token: string }).token;
}

interface Call {
  plan: CallPlan;
  invitedAt: number;
  answered: boolean;
  byeSent: boolean;
  sent: number;
  /** sentAt by seq of the frames not yet acknowledged. */
  unacked: Map<number, number>;
  prompts: number;
  dtmfSent: boolean;
  media: IntervalID | null;
  bye: TimeoutID | null;
}

export function phoneSession(
  s: PhoneSettings,
  user: string,
  plans: readonly CallPlan[],
  token?: string,
): Promise<SessionReport> {
  return new Promise((resolve) => {
    const report: SessionReport = { user, release: null, completed: 0, dropped: null };
    const ws = new WebSocket(s.url);
    let call: Call | null = null;
    let next = 0;
    /** Set when the script closes the socket: a close after that is not a drop. */
    let closing = false;
    let finished = false;
    let opened = false;
    /** The one deadline pending at a time: registered, answered, or ended after the bye. */
    let deadline: TimeoutID | null = null;
    let pause: TimeoutID | null = null;

    /** Sends only on an open socket (k6 throws otherwise): a timer may fire while it closes. */
    const send = (frame: ClientFrame): boolean => {
      if (ws.readyState !== OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    };

    const disarm = (): void => {
      if (deadline !== null) clearTimeout(deadline);
      deadline = null;
    };
    const arm = (reason: string): void => {
      disarm();
      deadline = setTimeout(() => {
        deadline = null;
        drop(reason);
      }, s.timeoutMs);
    };

    /** Stop a call's timers and count what it lost: sent − acked, at its end. */
    const settle = (c: Call): void => {
      if (c.media !== null) clearInterval(c.media);
      if (c.bye !== null) clearTimeout(c.bye);
      c.media = null;
      c.bye = null;
      lostMedia.add(c.unacked.size, { to: c.plan.to });
    };

    const hangUp = (): void => {
      closing = true;
      disarm();
      if (pause !== null) clearTimeout(pause);
      pause = null;
      ws.close();
    };

    const drop = (reason: string): void => {
      if (closing || report.dropped !== null) return;
      report.dropped = reason;
      droppedSessions.add(1, { reason });
      if (call !== null) settle(call);
      call = null;
      hangUp();
    };

    const finish = (): void => {
      if (finished) return;
      finished = true;
      disarm();
      if (pause !== null) clearTimeout(pause);
      if (call !== null) settle(call);
      if (!closing && report.dropped === null) {
        report.dropped = opened ? 'socket_closed' : 'connect_failed';
        droppedSessions.add(1, { reason: report.dropped });
      }
      // A zero sample keeps the counter (and its threshold) in the summary of a clean run.
      droppedSessions.add(0);
      resolve(report);
    };

    const placeNext = (): void => {
      pause = null;
      const plan = plans[next++];
      if (plan === undefined) {
        hangUp();
        return;
      }
      call = {
        plan,
        invitedAt: Date.now(),
        answered: false,
        byeSent: false,
        sent: 0,
        unacked: new Map(),
        prompts: 0,
        dtmfSent: false,
        media: null,
        bye: null,
      };
      send({ type: 'invite', callId: plan.callId, to: plan.to });
      arm('setup_timeout');
    };

    const sendMedia = (c: Call): void => {
      const seq = c.sent + 1;
      const sentAt = Date.now();
      if (!send({ type: 'media', callId: c.plan.callId, seq, sentAt })) return;
      c.sent = seq;
      c.unacked.set(seq, sentAt);
      mediaSent.add(1);
    };

    const hangUpCall = (c: Call): void => {
      c.bye = null;
      if (c.media !== null) clearInterval(c.media);
      c.media = null;
      c.byeSent = true;
      send({ type: 'bye', callId: c.plan.callId });
      arm('bye_timeout');
    };

    const answered = (c: Call): void => {
      disarm();
      c.answered = true;
      callSetup.add(Date.now() - c.invitedAt, { to: c.plan.to });
      if (s.mediaRate > 0) c.media = setInterval(() => sendMedia(c), 1000 / s.mediaRate);
      c.bye = setTimeout(() => hangUpCall(c), s.callLengthMs);
    };

    const ended = (c: Call, cause: string): void => {
      disarm();
      settle(c);
      call = null;
      if (!c.byeSent || cause !== 'normal') {
        drop(`ended_${cause}`);
        return;
      }
      report.completed++;
      callsCompleted.add(1, { to: c.plan.to });
      check(c, {
        'every media frame acked': (x) => x.unacked.size === 0,
        'ivr answered the digit': (x) => x.plan.digit === null || x.prompts >= 2,
      });
      pause = setTimeout(placeNext, s.pauseMs);
    };

    const onFrame = (m: ServerFrame): void => {
      if (m.type === 'registered') {
        disarm();
        report.release = m.release;
        sessionsRegistered.add(1, { release: m.release });
        placeNext();
        return;
      }
      if (m.type === 'error') {
        protocolErrors.add(1, { code: m.code });
        console.warn(`${user}: error frame ${m.code} (${m.ref ?? '-'}): ${m.message}`);
        return;
      }
      const c = call;
      if (c === null || m.callId !== c.plan.callId) return;
      switch (m.type) {
        case 'answered':
          if (!c.answered) answered(c);
          break;
        case 'prompt':
          // The menu first; the answer to the digit after it.
          c.prompts++;
          if (c.plan.digit !== null && !c.dtmfSent) {
            c.dtmfSent = true;
            send({ type: 'dtmf', callId: c.plan.callId, digit: c.plan.digit });
          }
          break;
        case 'media_ack': {
          const sentAt = c.unacked.get(m.seq);
          if (sentAt === undefined) break;
          c.unacked.delete(m.seq);
          mediaRtt.add(Date.now() - sentAt, { to: c.plan.to });
          break;
        }
        case 'ended':
          ended(c, m.cause);
          break;
        default:
          // trying, ringing, the echo's media: nothing to do.
          break;
      }
    };

    ws.onopen = () => {
      opened = true;
      send({ type: 'register', user, ...(token === undefined ? {} : { token }) });
      arm('register_timeout');
    };
    ws.onmessage = (e) => {
      if (e === undefined || typeof e.data !== 'string') return;
      onFrame(JSON.parse(e.data) as ServerFrame);
    };
    ws.onerror = (e) => {
      if (!closing) console.warn(`${user}: websocket error: ${e?.error ?? 'unknown'}`);
      // A connection that never opened may not get a close event.
      if (ws.readyState === CLOSED) finish();
    };
    ws.onclose = () => finish();
  });
}
