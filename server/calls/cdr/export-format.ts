/**
 * CDR exports for billing: NDJSON (one CDR object a line, the fields of records.ts) or CSV
 * (a header row, then one row a CDR in the same field order; `versions` joined with `;`,
 * an unanswered call's `answeredAt` empty). Documented in server/calls/README.md.
 */
import type { CdrArchive, CdrQuery } from './archive.ts';
import type { Cdr } from './records.ts';

export type ExportFormat = 'ndjson' | 'csv';

export const CDR_FIELDS = [
  'id',
  'callId',
  'caller',
  'callee',
  'node',
  'setupAt',
  'answeredAt',
  'endedAt',
  'durationMs',
  'cause',
  'endedBy',
  'mediaAtoB',
  'mediaBtoA',
  'versions',
] as const satisfies readonly (keyof Cdr)[];

/** RFC 4180: quoted when it holds a comma, a quote or a line break. */
const csvField = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

export function csvRow(c: Cdr): string {
  const cells = CDR_FIELDS.map((f) => {
    const v = c[f];
    if (v === null) return '';
    return csvField(Array.isArray(v) ? v.join(';') : String(v));
  });
  return `${cells.join(',')}\r\n`;
}

export async function* exportLines(
  archive: CdrArchive,
  range: Pick<CdrQuery, 'since' | 'until'>,
  format: ExportFormat,
): AsyncGenerator<string> {
  if (format === 'csv') yield `${CDR_FIELDS.join(',')}\r\n`;
  for await (const c of archive.export(range)) yield format === 'csv' ? csvRow(c) : `${JSON.stringify(c)}\n`;
}
