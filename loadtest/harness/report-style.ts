/**
 * What report.html's main charts and its per-node panel share: phase bands and their
 * colours, release colours, HTML escaping.
 */

// Releases in order of appearance (blue first, orange next), as on the observer page.
import RELEASE_COLORS from '../../server/http/observer/assets/release-colors.json' with { type: 'json' };
import type { TimelinePoint } from './report-model.ts';

export interface PhaseBand {
  phase: string;
  /** Seconds since the start; a timeline point covers the second from its t. */
  from: number;
  to: number;
  color: string;
}

/** The installer's phases, the orchestrator's, and the harness's 'restart' and 'handoff'; a Map, so no name reaches Object's prototype. */
export const PHASE_COLORS = new Map([
  ['preflight', '#fdf0c4'],
  ['commit', '#fddcb5'],
  ['canary', '#efe2fa'],
  ['promote', '#fde2cc'],
  ['watch', '#dbe8fb'],
  ['installed', '#d8f3df'],
  ['rolling_back', '#f8d5e5'],
  ['rolled_back', '#f8d5e5'],
  ['aborted', '#e7e5e4'],
  ['restart', '#fbd5d5'],
  ['handoff', '#d5f0f5'],
]);
const OTHER_PHASE_COLOR = '#e5e7eb';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Runs of seconds in one phase, as bands from their first second to the end of their last. */
export function phaseBands(timeline: { t: number; phase: string | null }[]): PhaseBand[] {
  const bands: PhaseBand[] = [];
  for (const point of timeline) {
    const last = bands.at(-1);
    if (point.phase === null) continue;
    if (last !== undefined && last.phase === point.phase && last.to === point.t) last.to = point.t + 1;
    else
      bands.push({
        phase: point.phase,
        from: point.t,
        to: point.t + 1,
        color: PHASE_COLORS.get(point.phase) ?? OTHER_PHASE_COLOR,
      });
  }
  return bands;
}

/** Releases in order of appearance: the order of their colours. */
export function releaseOrder(timeline: TimelinePoint[]): string[] {
  const seen = new Set<string>();
  for (const point of timeline) for (const name of Object.keys(point.releases)) seen.add(name);
  return [...seen];
}

/**
 * The colour mixed with white: opaque, so the stacked areas keep their colour over the phase
 * bands (a translucent fill over a tinted band reads as another release).
 */
export function tint(hex: string, white: number): string {
  const channels = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return `rgb(${channels.map((c) => Math.round(c + (255 - c) * white)).join(', ')})`;
}

/** Each release's line and fill colour, in order of appearance. */
export function releaseStyles(timeline: TimelinePoint[]): { name: string; stroke: string; fill: string }[] {
  return releaseOrder(timeline).map((name, i) => {
    const stroke = RELEASE_COLORS[i % RELEASE_COLORS.length] as string;
    return { name, stroke, fill: tint(stroke, 0.35) };
  });
}
