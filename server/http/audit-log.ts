/**
 * The audit log: `<data-dir>/audit.log`, one JSON line per admin change, appended and flushed
 * to disk (fsync) before the change's answer leaves. A line is whole only with its newline: a
 * node killed mid-append leaves a torn last line, which reading skips and the next start cuts
 * off, so no torn line is ever read back or glued to the next entry.
 */
import { existsSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { appendDurably } from '../files/durable-write.ts';

export interface AuditEntry {
  time: string;
  /** The token's name; null when the request came without a valid one. */
  token: string | null;
  source: string;
  method: string;
  route: string;
  /** The route's parameters and the request fields that matter (never a secret or a release body). */
  params: Record<string, unknown>;
  status: number;
  code?: string;
}

export interface AuditPage {
  total: number;
  entries: AuditEntry[];
}

/** The whole lines of `text`: everything up to its last newline. */
const wholeLines = (text: string): string[] => {
  const end = text.lastIndexOf('\n');
  return end < 0 ? [] : text.slice(0, end).split('\n');
};

export class AuditLog {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
    if (!existsSync(file)) return;
    const text = readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n'))
      truncateSync(file, statSync(file).size - Buffer.byteLength(text.slice(text.lastIndexOf('\n') + 1)));
  }

  /** Synchronous on purpose: admin changes are rare, and the entry must be on disk before the answer. */
  append(entry: AuditEntry): void {
    appendDurably(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  /** Newest first: `limit` entries after skipping the `offset` newest. */
  read(limit: number, offset = 0): AuditPage {
    const lines = existsSync(this.file) ? wholeLines(readFileSync(this.file, 'utf8')) : [];
    const end = lines.length - offset;
    const page = lines.slice(Math.max(0, end - limit), Math.max(0, end)).reverse();
    return { total: lines.length, entries: page.map((line) => JSON.parse(line) as AuditEntry) };
  }
}
