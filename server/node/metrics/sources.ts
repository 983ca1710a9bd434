import type { CallPhase } from '../../calls/contract.ts';
import type { InstallProgress } from '../../release/installer.ts';
import type { Runtime } from '../../runtime/index.ts';

/** What the node's gauges read at scrape time. */
export interface ScrapeSources {
  rt: Runtime;
  openCalls(): Iterable<{ phase: CallPhase }>;
  releases(): { current: string; permanent: string; install: InstallProgress | null };
}

/** The sources once the node has wired them (`observe`); null before, when gauges read nothing. */
export type Sources = () => ScrapeSources | null;
