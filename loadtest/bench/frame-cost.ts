/**
 * What a media frame costs a node in steady state, with phone tokens (the node's default)
 * and on a node started with --open-registration. Authentication happens once per
 * connection, so the two should cost the same. On each node PHONES phones register and sit
 * in echo calls; after a warm-up of half as many, `frames` media frames go through, each
 * phone keeping WINDOW of its frames unacknowledged, and the node's CPU time
 * (process.cpuUsage, through the admin API) and the wall time from the first frame sent to
 * the last ack read are divided by the frames. The phones run in the bench's process, so the wall time is the
 * pair's (client and node on the same cores), the CPU time the node's alone.
 */
import type { NodeProcess } from '../client/node-process.ts';
import type { Phone } from '../client/phone.ts';
import { operatorTokens } from '../client/tokens.ts';
import { BenchNodes } from './bench-nodes.ts';
import { connectPhones } from './registrations.ts';
import { type Figure, median } from './report.ts';

export const PHONES = 200;
export const WINDOW = 4;

export interface FrameCost {
  /** Node CPU time per frame, µs. */
  cpuUs: number;
  /** Wall time per frame, µs. */
  wallUs: number;
}

/** Frames through a set of phones in echo calls, each keeping WINDOW unacknowledged. */
class Pump {
  #budget = 0;
  #sent = 0;
  #acked = 0;
  #settle: ((err?: Error) => void) | undefined;

  constructor(private readonly phones: Phone[]) {
    for (const [i, phone] of phones.entries()) {
      phone.onMessage((m) => {
        if (m.type === 'media_ack') {
          if (++this.#acked === this.#budget) this.#settle?.();
          else this.#send(phone, i);
        } else if (m.type === 'error' || m.type === 'ended')
          this.#settle?.(new Error(`phone ${i} in the frame pump: ${JSON.stringify(m)}`));
      });
      void phone.closed.then(({ code, reason }) =>
        this.#settle?.(new Error(`phone ${i} closed (${code} ${reason}) in the frame pump`)),
      );
    }
  }

  #send(phone: Phone, i: number): void {
    if (this.#sent >= this.#budget) return;
    this.#sent++;
    phone.send({ type: 'media', callId: `f${i}`, seq: this.#sent, sentAt: 0 });
  }

  /** Send `frames` frames in all and resolve once every one is acknowledged. */
  run(frames: number): Promise<void> {
    this.#budget = frames;
    this.#sent = 0;
    this.#acked = 0;
    return new Promise<void>((resolve, reject) => {
      this.#settle = (err) => {
        this.#settle = undefined;
        if (err) reject(err);
        else resolve();
      };
      for (let k = 0; k < WINDOW; k++) for (const [i, phone] of this.phones.entries()) this.#send(phone, i);
    });
  }
}

async function cpuUs(nodes: BenchNodes, node: NodeProcess): Promise<number> {
  const { cpu } = await nodes.admin(node).get<{ cpu: { user: number; system: number } }>('/admin/memory');
  return cpu.user + cpu.system;
}

/** One node, tokens or open: PHONES phones in echo calls, a warm-up, then `frames` measured. */
export async function frameCost(frames: number, withTokens: boolean): Promise<FrameCost> {
  const nodes = new BenchNodes();
  const phones: Phone[] = [];
  try {
    const dir = nodes.dir('frames');
    const node = await nodes.start(dir, {
      args: [
        // The pump's pace, never the per-connection limit, sets the rate: no phone is cut off.
        '--messages-per-second',
        '1000000',
        '--media-timeout-ms',
        '600000',
        ...(withTokens ? [] : ['--open-registration']),
      ],
    });
    await connectPhones(phones, node.callsUrl, PHONES, withTokens ? operatorTokens(dir) : undefined);
    await Promise.all(
      phones.map(async (phone, i) => {
        await phone.register(`f${i}`);
        phone.send({ type: 'invite', callId: `f${i}`, to: 'echo' });
        await phone.next((m) => m.type === 'answered', 30_000);
      }),
    );
    const pump = new Pump(phones);
    // Warm-up: the node's hot paths compiled before the clock starts.
    await pump.run(Math.ceil(frames / 2));
    const cpu0 = await cpuUs(nodes, node);
    const t0 = performance.now();
    await pump.run(frames);
    const wall = (performance.now() - t0) * 1000;
    const cpu = (await cpuUs(nodes, node)) - cpu0;
    return { cpuUs: cpu / frames, wallUs: wall / frames };
  } finally {
    for (const phone of phones) phone.ws.terminate();
    await nodes.close();
  }
}

export interface FramePair {
  token: FrameCost;
  open: FrameCost;
}

/** The pair for run `run`: which mode goes first alternates from run to run. */
export async function framePair(frames: number, run: number): Promise<FramePair> {
  if (run % 2 === 0) {
    const token = await frameCost(frames, true);
    return { token, open: await frameCost(frames, false) };
  }
  const open = await frameCost(frames, false);
  return { token: await frameCost(frames, true), open };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

export function frameFigures(pairs: FramePair[]): Figure[] {
  const ratios = pairs.map((p) => p.token.cpuUs / p.open.cpuUs);
  /** One figure for each kind of node: the median over the pairs. */
  const both = (key: string, what: string, pick: (c: FrameCost) => number): Figure[] => [
    {
      key: `${key}_token`,
      value: round3(median(pairs.map((p) => pick(p.token)))),
      label: `${what}, with phone tokens (the default)`,
    },
    {
      key: `${key}_open`,
      value: round3(median(pairs.map((p) => pick(p.open)))),
      label: `${what}, --open-registration (no token)`,
    },
  ];
  return [
    ...both('frame_cpu_us', 'steady state: node CPU per media frame, µs', (c) => c.cpuUs),
    {
      key: 'frame_cpu_ratio_token_open',
      value: round3(median(ratios)),
      label: 'node CPU per frame, tokens / open (median of the pairs)',
    },
    {
      key: 'frame_cpu_ratio_token_open_min',
      value: round3(Math.min(...ratios)),
      label: 'node CPU per frame, tokens / open: lowest pair',
    },
    {
      key: 'frame_cpu_ratio_token_open_max',
      value: round3(Math.max(...ratios)),
      label: 'node CPU per frame, tokens / open: highest pair',
    },
    ...both(
      'frame_wall_us',
      'steady state: wall time per media frame (phones and node together), µs',
      (c) => c.wallUs,
    ),
  ];
}
