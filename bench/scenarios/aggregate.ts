import { median } from '../lib/util.js';
import type { MetricDef, Row, System } from './types.js';

type Runs = Record<System, Record<string, number | null>[]>;

export function aggregateRuns(defs: MetricDef[], runs: Runs): Record<System, Record<string, number | null>> {
  const out = { patternwire: {}, baseline: {} } as Record<System, Record<string, number | null>>;
  for (const system of ['patternwire', 'baseline'] as const) {
    for (const def of defs) {
      const values = runs[system].map((r) => r[def.key] ?? null);
      const present = values.filter((v): v is number => typeof v === 'number');
      let v: number | null;
      if (values.length === 0) v = null;
      else if (def.agg === 'sum') v = present.length === values.length ? present.reduce((a, b) => a + b, 0) : null;
      else if (def.agg === 'max') v = present.length ? Math.max(...present) : null;
      // A figure missing in any run (never completed) is not papered over by the others.
      else v = present.length === values.length ? median(values) : null;
      out[system][def.key] = v;
    }
  }
  return out;
}

export function rowsFor(
  scenario: string,
  defs: MetricDef[],
  agg: Record<System, Record<string, number | null>>,
  runs: number,
): Row[] {
  return defs.map((def) => {
    const pw = agg.patternwire[def.key] ?? null;
    const base = def.pwOnly ? null : (agg.baseline[def.key] ?? null);
    const label = def.agg === 'sum' && runs > 1 ? `${def.label} (sum of ${runs} runs)` : def.label;
    return {
      scenario,
      metric: label,
      unit: def.unit,
      patternwire: pw,
      baseline: base,
      ratio: pw !== null && base !== null && base !== 0 ? pw / base : null,
      target: def.target ?? '',
      met: def.check ? def.check(pw, base) : null,
    };
  });
}

export const atMost = (limit: number) => (v: number | null) => (v === null ? false : v <= limit);
export const atLeast = (limit: number) => (v: number | null) => (v === null ? false : v >= limit);
export const zero = (v: number | null) => v === 0;
