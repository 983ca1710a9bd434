/** How every benchmark reports: a table for people, or one JSON object for machines. */
import Table from 'cli-table3';

export interface Figure {
  /** JSON key, snake_case, with the unit in the name. */
  key: string;
  value: number;
  /** The target and whether the value must stay at most or at least that. */
  target?: { max: number } | { min: number };
  /** What the figure is, for the table. */
  label: string;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function meets(f: Figure): boolean | undefined {
  if (!f.target) return undefined;
  return 'max' in f.target ? f.value <= f.target.max : f.value >= f.target.min;
}

const fmt = (v: number) =>
  Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 2 });

export function report(title: string, figures: Figure[], meta: Record<string, unknown>, json: boolean): void {
  if (json) {
    const out: Record<string, unknown> = { bench: title, ...meta };
    for (const f of figures) out[f.key] = f.value;
    out.targets_met = figures.every((f) => meets(f) !== false);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const table = new Table({
    head: ['figure', 'median', 'target', 'met'],
    colAligns: ['left', 'right', 'right', 'center'],
  });
  for (const f of figures) {
    const ok = meets(f);
    const target = f.target
      ? 'max' in f.target
        ? `<= ${fmt(f.target.max)}`
        : `>= ${fmt(f.target.min)}`
      : '';
    table.push([`${f.label} (${f.key})`, fmt(f.value), target, ok === undefined ? '' : ok ? 'yes' : 'NO']);
  }
  const about = Object.entries(meta)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('  ');
  process.stdout.write(`${title}  ${about}\n${table.toString()}\n`);
}
