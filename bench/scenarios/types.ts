import type { Cleanup } from '../lib/cleanup.js';
import type { BenchEnv } from '../lib/env.js';
import type { Publisher } from '../lib/load.js';
import type { Patternwire } from '../lib/patternwire.js';
import type { Child } from '../lib/processes.js';

export type System = 'patternwire' | 'baseline';

/** A system the delivery scenarios drive: where clients connect, where the publisher sends. */
export interface Target {
  system: System;
  wsUrl: string;
  /** Where subscribers connect, in turn (Patternwire with several API processes); else `wsUrl`. */
  wsUrls?: readonly string[];
  channel: string;
  /** Patternwire only: the stored side and the queue. */
  pw: Patternwire | null;
  /** Its processes, for CPU accounting (read at each run: Patternwire may have replaced some). */
  processes(): Child[];
  /** Baseline only: messages the relay has heard from Redis so far. */
  heard?: () => Promise<number>;
}

export interface BenchContext {
  cleanup: Cleanup;
  env: BenchEnv;
  publisher: Publisher;
  targets: Record<System, Target>;
  pw: Patternwire;
  runs: number;
  log(message: string): void;
}

/** One line of the result table. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  patternwire: number | null;
  baseline: number | null;
  /** Patternwire / baseline, where both exist. */
  ratio: number | null;
  target: string;
  /** null: no target for this line. */
  met: boolean | null;
}

export interface ScenarioReport {
  scenario: string;
  params: Record<string, unknown>;
  /** Per-run summaries, as measured. */
  runs: Record<string, unknown>[];
  /** The figures of the table: medians over runs (sums for loss and duplicate counts). */
  aggregated: Record<System, Record<string, number | null>>;
  rows: Row[];
  notes: string[];
}

/** How a metric becomes a table line. */
export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  /** Over runs: median (default), or the sum (loss and duplicate counts are never hidden by a median). */
  agg?: 'median' | 'sum' | 'max';
  target?: string;
  /** Whether the aggregated figures meet the target; null when they cannot be judged. */
  check?: (pw: number | null, baseline: number | null) => boolean | null;
  /** Patternwire only (no baseline column). */
  pwOnly?: boolean;
}
