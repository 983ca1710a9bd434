/** What the runner (the test's thread) and the VU worker threads say to each other. */
import type { SummaryData } from '../../../loadtest/k6/lib/summary.ts';

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

export interface MetricDecl {
  name: string;
  type: MetricType;
  contains: 'default' | 'time' | 'data';
}

export interface Sample {
  metric: string;
  value: number;
  tags: Record<string, string>;
  time: number;
}

export interface WorkerInit {
  /** file: URL of the k6 script. */
  script: string;
  /** 0 for the init VU, which reads the options and runs handleSummary. */
  vu: number;
  env: Record<string, string>;
  scenario: string;
  /** Tags added to every sample of this VU (k6 adds `scenario`, and the scenario's own tags). */
  tags: Record<string, string>;
}

/** When a VU runs, in epoch ms: iterations start until `endAt`, and are cut off at `hardStopAt`. */
export interface RunPlan {
  kind: 'run';
  exec: string;
  startAt: number;
  endAt: number;
  hardStopAt: number;
  /** per-vu-iterations: how many; null: as many as fit before endAt. */
  iterations: number | null;
}

export type ToWorker = RunPlan | { kind: 'summary'; data: SummaryData };

export type FromWorker =
  | { kind: 'ready'; options: unknown; exports: string[]; metrics: MetricDecl[] }
  | { kind: 'log'; vu: number; level: string; text: string }
  | { kind: 'done'; samples: Sample[]; errors: string[]; iterations: number; interrupted: boolean }
  | { kind: 'summary'; result: Record<string, string> | null }
  | { kind: 'failed'; error: string };
