/**
 * `npm run phone -- …`: one phone on the command line. It registers, places a call (or
 * answers one with --answer), sends media frames and prints their acks with round-trip
 * times, optionally sends DTMF and puts the call on hold, hangs up, and prints every frame
 * it sends (→) and receives (←) on one line each.
 *
 *   npm run phone -- --user alice --call echo --media 5 --hold
 *   npm run phone -- --user bob --answer --no-hangup      # in another terminal
 *   npm run phone -- --user alice --call bob
 *
 * Exit status: 0 when the call ends with cause normal; 1 on an error frame, a refused
 * connection or a socket closed mid-call (the HOT_ERR_* code or close code is printed);
 * 2 when the call ends with any other cause (busy, ring_timeout, …).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ClientMessage, ServerMessage } from '../server/calls/protocol/shipped.ts';
import { defaultSettings } from '../server/node/settings.ts';
import { Phone, type PhoneTokenSource } from './client/phone.ts';
import { operatorTokens } from './client/tokens.ts';

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};
const digits = (value: string): string[] => {
  const list = value.split(',').map((d) => d.trim());
  if (list.some((d) => !/^[0-9*#A-D]$/.test(d)))
    throw new InvalidArgumentError('digits are 0-9 * # A-D, comma-separated');
  return list;
};

const program = new Command('phone')
  .description('A Hotline phone: register, call (or answer), send media, DTMF, hold, hang up')
  .addOption(
    new Option('--url <url>', 'the node’s calls endpoint')
      .env('HOTLINE_CALLS_URL')
      .default('ws://127.0.0.1:8080/calls'),
  )
  .addOption(new Option('--user <name>', 'user to register as').default(`phone-${process.pid}`))
  .addOption(
    new Option(
      '--token <jwt>',
      'phone token for --user (default: one issued with the phone key of --data-dir)',
    ).env('HOTLINE_PHONE_TOKEN'),
  )
  .addOption(
    new Option('--data-dir <dir>', "the node's data directory, whose phone key issues the token")
      .env('HOTLINE_DATA_DIR')
      .default(defaultSettings.dataDir),
  )
  .addOption(
    new Option('--ca <pem>', 'trust this CA (or self-signed) certificate for a wss:// node').env(
      'HOTLINE_CA',
    ),
  )
  .addOption(new Option('--call <to>', 'user or service number to call: echo, ivr, noanswer').default('echo'))
  .addOption(
    new Option('--answer', 'wait for an incoming call and answer it instead of calling').conflicts('call'),
  )
  .addOption(new Option('--call-id <id>', 'call id (default: random)'))
  .addOption(new Option('--media <n>', 'media frames to send').default(5).argParser(int))
  .addOption(
    new Option('--interval <ms>', 'pause between frames, digits and hold/resume').default(200).argParser(int),
  )
  .addOption(new Option('--payload <text>', 'payload of each media frame'))
  .addOption(
    new Option('--dtmf <digits>', 'DTMF digits to send after the media, e.g. 1,2,#').argParser(digits),
  )
  .addOption(new Option('--hold', 'put the call on hold and resume it before hanging up'))
  .addOption(
    new Option('--no-hangup', 'do not send bye: wait for the other side (or a timeout) to end the call'),
  )
  .addOption(
    new Option('--timeout <ms>', 'longest wait for an answer, an incoming call or the end')
      .default(60_000)
      .argParser(int),
  );

program.parse();
const o = program.opts<{
  url: string;
  user: string;
  token?: string;
  ca?: string;
  dataDir: string;
  call: string;
  answer?: true;
  callId?: string;
  media: number;
  interval: number;
  payload?: string;
  dtmf?: string[];
  hold?: true;
  hangup: boolean;
  timeout: number;
}>();

const started = performance.now();
/** Epoch milliseconds with a fraction: the phone's clock, as sent in `sentAt`. */
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describe(m: ClientMessage | ServerMessage, received: boolean): string {
  const { type, ...fields } = m as { type: string } & Record<string, unknown>;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (k === 'sentAt') {
      // Acks come back to the phone that sent the frame: the round trip through the node.
      // Media received was stamped by the phone that sent it (this one, for echo).
      if (received && typeof v === 'number')
        parts.push(`${type === 'media_ack' ? 'rtt' : 'age'}=${(clock() - v).toFixed(2)}ms`);
      continue;
    }
    parts.push(`${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  }
  return [type.padEnd(10), ...parts].join(' ');
}

const print = (arrow: string, text: string) =>
  console.log(`${`+${((performance.now() - started) / 1000).toFixed(3)}s`.padStart(9)} ${arrow} ${text}`);

/** Ends the run with this exit status and message. */
class Exit extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Ended = Extract<ServerMessage, { type: 'ended' }>;
type ErrorFrame = Extract<ServerMessage, { type: 'error' }>;

const byCause = (m: Ended): number => {
  if (m.cause === 'normal') return 0;
  throw new Exit(2, `call ${m.callId} ended: ${m.cause}`);
};

async function run(phone: Phone): Promise<number> {
  let ended: Ended | null = null;
  let failure: ErrorFrame | null = null;
  let finished = false;
  phone.onMessage((m) => {
    print('←', describe(m, true));
    if (m.type === 'ended') ended = m;
    if (m.type === 'error') failure ??= m;
  });
  const closed = phone.closed.then(({ code, reason }): never => {
    print('·', `socket closed: ${code}${reason ? ` ${reason}` : ''}`);
    throw new Exit(
      1,
      finished ? 'socket closed' : `socket closed mid-call: ${code}${reason ? ` ${reason}` : ''}`,
    );
  });
  closed.catch(() => {});
  const send = (m: ClientMessage) => {
    print('→', describe(m, false));
    phone.send(m);
  };
  /** The next message of these types; an error frame or a closed socket ends the run. */
  const wait = async <T extends ServerMessage['type']>(types: T[]) => {
    const m = await Promise.race([
      phone.next((x) => (types as string[]).includes(x.type) || x.type === 'error', o.timeout),
      closed,
    ]);
    if (m.type === 'error') throw new Exit(1, `${m.code}: ${m.message}`);
    return m as Extract<ServerMessage, { type: T }>;
  };
  /** Between steps: stop at an error frame or at the end of the call. */
  const check = (): void => {
    const f = failure as ErrorFrame | null;
    if (f !== null) throw new Exit(1, `${f.code}: ${f.message}`);
  };
  const over = (): Ended | null => ended;

  try {
    await phone.sendRegister(o.user);
    await wait(['registered']);

    let callId: string;
    if (o.answer) {
      print('·', `waiting for a call to ${o.user}`);
      callId = (await wait(['incoming'])).callId;
      send({ type: 'ringing', callId });
      send({ type: 'answer', callId });
    } else {
      callId = o.callId ?? randomUUID().slice(0, 8);
      send({ type: 'invite', callId, to: o.call });
    }
    const setup = await wait(['answered', 'ended']);
    if (setup.type === 'ended') return byCause(setup);

    const steps: ClientMessage[] = [];
    for (let seq = 1; seq <= o.media; seq++) {
      steps.push({
        type: 'media',
        callId,
        seq,
        sentAt: 0,
        ...(o.payload === undefined ? {} : { payload: o.payload }),
      });
    }
    for (const digit of o.dtmf ?? []) steps.push({ type: 'dtmf', callId, digit });
    if (o.hold) steps.push({ type: 'hold', callId }, { type: 'resume', callId });
    for (const step of steps) {
      check();
      const end = over();
      if (end !== null) return byCause(end);
      send(step.type === 'media' ? { ...step, sentAt: clock() } : step);
      await sleep(o.interval);
    }
    check();
    const end = over();
    if (end !== null) return byCause(end);
    if (o.hangup) send({ type: 'bye', callId });
    return byCause(await wait(['ended']));
  } finally {
    finished = true;
    if (phone.isOpen) await phone.close();
  }
}

async function main(): Promise<number> {
  const token: PhoneTokenSource =
    o.token === undefined ? operatorTokens(o.dataDir, 3_600_000) : () => o.token as string;
  const phone = await Phone.connect(o.url, {
    token,
    ...(o.ca === undefined ? {} : { ca: readFileSync(o.ca) }),
  }).catch((err: unknown) => {
    throw new Exit(1, `could not connect to ${o.url}: ${(err as Error).message}`);
  });
  print('·', `connected to ${o.url}`);
  return run(phone);
}

main().then(
  (status) => process.exit(status),
  (err: unknown) => {
    const status = err instanceof Exit ? err.status : 1;
    console.error(err instanceof Exit ? err.message : err);
    process.exit(status);
  },
);
