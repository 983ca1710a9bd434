/** The CDR log at node start, before recovery: segments repaired, an old log migrated, expired segments gone. */
import { closeSync, openSync } from 'node:fs';
import { appendLinesSync, carryLines, line, openLog, scanHead } from './log.ts';
import { dropExpired, repairSegments, rollHead, type SegmentPolicy, segmentLine } from './segments.ts';

/**
 * A new log starts with its `segment` line (when it was opened: its age). A `cdr.log` written before segments existed has no `segment` line: it becomes the first
 * closed segment (with its index) and a new head carries on with its open calls and claims.
 */
export async function prepareStore(path: string, policy: SegmentPolicy, now: number): Promise<void> {
  await repairSegments(path, policy.blockRecords);
  const { scan, head } = await scanHead(path, policy.blockRecords);
  if (head.size === 0) {
    const fd = openLog(path);
    appendLinesSync(fd, [line(segmentLine(head.seq, now))]);
    closeSync(fd);
  } else if (head.start === 0) {
    const rolled = rollHead(path, openSync(path, 'a'), head, carryLines(scan), [], now);
    closeSync(rolled.fd);
  }
  dropExpired(path, policy, now);
}
