/**
 * A scripted phone, as the load harness runs thousands of them: it registers, places calls
 * (to its partner phone, or to the echo and IVR services) with media at a set rate, holds
 * and resumes, sends DTMF, hangs up after a call length drawn from an exponential
 * distribution, and starts again. Its partner answers. A phone whose socket drops
 * reconnects and registers again, as real phones do, and everything it loses is counted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type * as hdr from 'hdr-histogram-js';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { encodeHistogram, newHistogram } from '../client/histogram.ts';
import { MediaStream } from '../client/media.ts';
import { Phone, type PhoneTokenSource } from '../client/phone.ts';
import { operatorTokens } from '../client/tokens.ts';
import { type CompletedCall, emptyCounts, type ScriptPlan, type WorkerSecond } from './messages.ts';
import { nodeOf } from './placement.ts';

/** What a worker's phones on one node count together; `flush` hands over one second of it. */
export class ScriptStats {
  connected = 0;
  inCall = 0;
  readonly connect = newHistogram();
  readonly calls: CompletedCall[] = [];
  /** Frames never acknowledged, over the whole run. */
  lostTotal = 0;
  #second = ScriptStats.#emptySecond();
  #rtt = newHistogram();
  #setup = newHistogram();

  static #emptySecond() {
    return { ...emptyCounts(), errors: {} as Record<string, number>, recoveries: [] as number[] };
  }

  get second() {
    return this.#second;
  }

  get rtt(): hdr.Histogram {
    return this.#rtt;
  }

  recordSetup(ms: number): void {
    this.#setup.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  error(code: string): void {
    this.#second.errors[code] = (this.#second.errors[code] ?? 0) + 1;
  }

  flush(): WorkerSecond {
    const out: WorkerSecond = {
      ...this.#second,
      connected: this.connected,
      inCall: this.inCall,
      rtt: encodeHistogram(this.#rtt),
      setup: encodeHistogram(this.#setup),
    };
    this.#second = ScriptStats.#emptySecond();
    this.#rtt.reset();
    this.#setup.reset();
    return out;
  }
}

/** A call as one phone sees it. */
interface LiveCall {
  callId: string;
  role: 'caller' | 'callee';
  stream: MediaStream;
  /** Media frames delivered to this phone. */
  received: number;
  /** Frames the node answered "unknown call" because the other side had just hung up. */
  late: number;
  media: NodeJS.Timeout | null;
  held: boolean;
  /** Set once the call is over, with its cause. */
  ended: string | null;
  /** A call to the partner phone on another node. */
  crossNode: boolean;
}

const SERVICES = ['echo', 'echo', 'ivr'];

export class ScriptedPhone {
  readonly user: string;
  readonly #plan: ScriptPlan;
  readonly #stats: ScriptStats;
  readonly #index: number;
  /** Index of the node this phone connects to, in the plan's urls. */
  readonly #node: number;
  /** Its phone token for each (re)connect, as a client has from its operator. */
  readonly #tokens: PhoneTokenSource;
  #phone: Phone | null = null;
  #call: LiveCall | null = null;
  #lastEnded: LiveCall | null = null;
  #calls = 0;
  #droppedAt: number | null = null;
  #stopping = false;
  readonly #rampEnd: number;
  /** Cuts every wait short when the run stops. */
  readonly #stop = new AbortController();
  #interrupt = new AbortController();

  constructor(plan: ScriptPlan, index: number, node: number, stats: ScriptStats) {
    this.#plan = plan;
    this.#index = index;
    this.#node = node;
    this.#stats = stats;
    this.#tokens = operatorTokens(plan.keyDir);
    this.user = `${plan.userPrefix}${index}`;
    this.#rampEnd = Date.now() + plan.rampMs + 500;
  }

  get #isCaller(): boolean {
    return this.#index % 2 === 0;
  }

  get #partner(): string | null {
    const partner = this.#index + 1;
    return partner < this.#plan.phones ? `${this.#plan.userPrefix}${partner}` : null;
  }

  get #partnerElsewhere(): boolean {
    return nodeOf(this.#index + 1, this.#plan.placement) !== this.#node;
  }

  /** Connect (spread over the ramp), then place calls until stopped; callees just answer. */
  async run(): Promise<void> {
    await this.#pause((this.#index / Math.max(1, this.#plan.phones)) * this.#plan.rampMs);
    while (!this.#stopping) {
      try {
        await this.#registered();
        if (!this.#isCaller) {
          await this.#phone?.closed;
          continue;
        }
        // The first call waits for the ramp, so that the partner has registered.
        if (this.#calls === 0) await this.#wait(Math.max(0, this.#rampEnd - Date.now()));
        await this.#placeCall();
        await this.#wait(300 + Math.random() * 1200);
      } catch {
        // The socket went away mid-step: the close handler counted it; go round and reconnect.
        if (!this.#stopping) await this.#pause(100);
      }
    }
  }

  /** Hang up whatever call is up (as the script would), then close. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stop.abort();
    const call = this.#call;
    const phone = this.#phone;
    if (call !== null && call.role === 'caller' && phone?.isOpen) {
      try {
        await this.#hangUp(phone, call);
      } catch {
        // Closed while hanging up: counted by the close handler.
      }
    }
    // Acks still on their way get a few seconds before anything counts as lost.
    const last = this.#lastEnded;
    for (
      let waited = 0;
      last !== null && phone?.isOpen && last.stream.outstanding > last.late && waited < 5000;
      waited += 100
    )
      await sleep(100);
    this.#lostAtEnd();
    phone?.ws.terminate();
  }

  /**
   * Sleep, unless the run stops, the socket drops or the call ends first (then it throws and
   * the script unwinds: a phone notices at once, not when it meant to hang up).
   */
  #wait(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: AbortSignal.any([this.#stop.signal, this.#interrupt.signal]) });
  }

  /** A pause in a retry loop: ends early (without throwing) on the same events. */
  #pause(ms: number): Promise<void> {
    return this.#wait(ms).catch(() => undefined);
  }

  #wakeUp(): void {
    this.#interrupt.abort();
    this.#interrupt = new AbortController();
  }

  async #registered(): Promise<void> {
    if (this.#phone?.isOpen) return;
    for (;;) {
      const t0 = performance.now();
      let phone: Phone | undefined;
      try {
        phone = await Phone.connect(this.#plan.urls[this.#node] as string, {
          localAddress: this.#plan.localAddresses[this.#index % this.#plan.localAddresses.length] as string,
          keepLog: false,
          token: this.#tokens,
        });
        this.#attach(phone);
        await phone.register(this.user);
        if (this.#droppedAt === null)
          this.#stats.connect.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        else this.#stats.second.recoveries.push(Date.now() - this.#droppedAt);
        this.#droppedAt = null;
        this.#phone = phone;
        this.#stats.connected++;
        return;
      } catch (err) {
        // Never leave a half-set-up socket behind: it could register late and hold the user.
        phone?.ws.terminate();
        if (this.#stopping) throw err;
        // Node restarting, or our old session not gone yet (user taken): try again shortly.
        await this.#pause(250);
      }
    }
  }

  #attach(phone: Phone): void {
    phone.onMessage((m) => this.#onMessage(phone, m));
    void phone.closed.then(() => {
      // Only the registered socket counts: one given up while registering was never up.
      if (this.#phone !== phone) return;
      this.#phone = null;
      this.#stats.connected--;
      if (this.#stopping) return;
      this.#stats.second.droppedSessions++;
      this.#droppedAt ??= Date.now();
      const call = this.#call;
      if (call !== null) this.#end(call, 'socket_closed');
      this.#wakeUp();
    });
  }

  #onMessage(phone: Phone, m: ServerMessage): void {
    const call = this.#call;
    switch (m.type) {
      case 'media_ack':
        if (call?.callId === m.callId) call.stream.ack(m.seq, m.sentAt);
        else this.#lastEnded?.stream.ack(m.seq, m.sentAt);
        return;
      case 'media':
        if (call?.callId === m.callId) call.received++;
        return;
      case 'incoming':
        if (call !== null) phone.send({ type: 'busy', callId: m.callId });
        else this.#answer(phone, m.callId);
        return;
      case 'answered':
        if (call?.callId === m.callId && call.role === 'callee') this.#startMedia(phone, call);
        return;
      case 'ended':
        if (call?.callId === m.callId) this.#end(call, m.cause);
        return;
      case 'error': {
        // Our frames that crossed the other side's hang-up: late, not lost.
        const last = this.#lastEnded;
        if (
          last !== null &&
          m.code === 'HOT_ERR_UNKNOWN_CALL' &&
          m.ref === 'media' &&
          last.callId === m.callId
        )
          last.late++;
        else this.#stats.error(m.code);
        return;
      }
    }
  }

  #newCall(callId: string, role: LiveCall['role']): LiveCall {
    const call: LiveCall = {
      callId,
      role,
      stream: new MediaStream(this.#stats.rtt),
      received: 0,
      late: 0,
      media: null,
      held: false,
      ended: null,
      crossNode: false,
    };
    this.#call = call;
    return call;
  }

  #answer(phone: Phone, callId: string): void {
    this.#newCall(callId, 'callee');
    phone.send({ type: 'ringing', callId });
    setTimeout(
      () => {
        if (this.#call?.callId === callId && phone.isOpen) phone.send({ type: 'answer', callId });
      },
      50 + Math.random() * 150,
    );
  }

  #startMedia(phone: Phone, call: LiveCall): void {
    this.#stats.inCall++;
    call.media = setInterval(() => {
      if (call.held || call.ended !== null || !phone.isOpen) return;
      phone.send({ type: 'media', callId: call.callId, ...call.stream.next() });
    }, 1000 / this.#plan.mediaRate);
  }

  /** The call is over (any cause): stop its media, count a drop unless the script ended it. */
  #end(call: LiveCall, cause: string): void {
    if (call.ended !== null) return;
    call.ended = cause;
    if (call.media !== null) {
      clearInterval(call.media);
      this.#stats.inCall--;
    }
    // Counted on the caller's side only: a two-party call is one call, not two.
    if (call.role === 'caller' && cause !== 'normal' && cause !== 'busy' && !this.#stopping)
      this.#stats.second.droppedCalls++;
    if (this.#call === call) this.#call = null;
    this.#lostAtEnd();
    this.#lastEnded = call;
    if (call.role === 'caller') this.#wakeUp();
  }

  /** Frames of the previous call still unacknowledged are lost (bar the late ones). */
  #lostAtEnd(): void {
    const prev = this.#lastEnded;
    if (prev === null) return;
    const lost = Math.max(0, prev.stream.outstanding - prev.late);
    this.#stats.second.lost += lost;
    this.#stats.lostTotal += lost;
    this.#stats.second.acks += prev.stream.counts.acked;
    this.#stats.second.duplicated += prev.stream.counts.duplicated;
    this.#stats.second.reordered += prev.stream.counts.reordered;
    this.#lastEnded = null;
  }

  async #placeCall(): Promise<void> {
    const phone = this.#phone as Phone;
    const partner = this.#partner;
    const to =
      partner === null || Math.random() < this.#plan.serviceShare
        ? (SERVICES[Math.floor(Math.random() * SERVICES.length)] as string)
        : partner;
    const call = this.#newCall(`${this.user}-${++this.#calls}`, 'caller');
    call.crossNode = to === partner && this.#partnerElsewhere;
    this.#stats.second.callsStarted++;
    const t0 = performance.now();
    const outcome = phone.next(
      (m) => (m.type === 'answered' || m.type === 'ended' || m.type === 'error') && m.callId === call.callId,
      this.#plan.answerTimeoutMs,
    );
    phone.send({ type: 'invite', callId: call.callId, to });
    let first: ServerMessage;
    try {
      first = await outcome;
    } catch (err) {
      if (!phone.isOpen) throw err;
      // Not answered in time: a dropped call, as a phone user would see it.
      phone.send({ type: 'cancel', callId: call.callId });
      this.#end(call, 'no_answer');
      return;
    }
    if (first.type === 'ended') return; // busy, or ended by the node: #end has counted it
    if (first.type === 'error') {
      // Refused (after a restart the partner may not be back yet): the call failed.
      this.#end(call, first.code);
      return;
    }
    this.#stats.recordSetup(performance.now() - t0);
    this.#startMedia(phone, call);
    const lengthMs = Math.min(
      -Math.log(1 - Math.random()) * this.#plan.meanCallMs,
      this.#plan.meanCallMs * 4,
    );
    if (to === 'ivr') setTimeout(() => this.#dtmf(phone, call), Math.min(1000, lengthMs / 2));
    if (to === partner && Math.random() < this.#plan.holdShare) await this.#holdAWhile(phone, call, lengthMs);
    else await this.#wait(lengthMs);
    if (call.ended === null && phone.isOpen) await this.#hangUp(phone, call);
  }

  #dtmf(phone: Phone, call: LiveCall): void {
    if (call.ended === null && phone.isOpen) phone.send({ type: 'dtmf', callId: call.callId, digit: '1' });
  }

  async #holdAWhile(phone: Phone, call: LiveCall, lengthMs: number): Promise<void> {
    await this.#wait(lengthMs / 3);
    if (call.ended !== null || !phone.isOpen) return;
    call.held = true;
    phone.send({ type: 'hold', callId: call.callId });
    await this.#wait(Math.min(2000, lengthMs / 3));
    if (call.ended !== null || !phone.isOpen) return;
    phone.send({ type: 'resume', callId: call.callId });
    call.held = false;
    await this.#wait(lengthMs / 3);
  }

  async #hangUp(phone: Phone, call: LiveCall): Promise<void> {
    if (call.media !== null) clearInterval(call.media);
    const ended = phone.next((m) => m.type === 'ended' && m.callId === call.callId, 5000);
    phone.send({ type: 'bye', callId: call.callId });
    await ended;
    if (call.ended === 'normal') {
      this.#stats.second.callsCompleted++;
      this.#stats.calls.push({
        callId: call.callId,
        caller: this.user,
        sent: call.stream.counts.sent,
        received: call.received,
        crossNode: call.crossNode,
      });
    }
  }
}
