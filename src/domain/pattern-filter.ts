import { PRIORITIES, type Priority, type Tier } from '../schema/events.js';
import type { PatternFilter } from '../schema/filter.js';
import type { Detection } from '../schema/topics.js';
import { normalizeSymbol } from './symbols.js';

export type { PatternFilter };

/** What a filter is matched against, live or stored. */
export type FilterableDetection = Pick<Detection, 'symbol' | 'pattern' | 'tier' | 'confidence' | 'priority' | 'detectedAt'>;

export interface CompiledFilter {
  readonly filter: PatternFilter;
  /** The symbols it lets through, normalized as detections carry them; null: any symbol. */
  readonly symbols: ReadonlySet<string> | null;
  /** The tiers it lets through; null: any tier. */
  readonly tiers: ReadonlySet<Tier> | null;
  matches(d: FilterableDetection): boolean;
}

/** Priorities at or above `min`, highest first. */
export function prioritiesAtLeast(min: Priority): Priority[] {
  return PRIORITIES.slice(0, PRIORITIES.indexOf(min) + 1);
}

export const normalizePatternName = (p: string) => p.trim().toLowerCase();

/**
 * Compiles a filter once per subscription into a cheap predicate: sets for the lists,
 * numbers for the bounds. The same rules as the SQL in `filterConditions` (db/detection-queries.ts).
 */
export function compileFilter(filter: PatternFilter | null | undefined): CompiledFilter {
  const f = filter ?? {};
  const symbols = f.symbols?.length ? new Set(f.symbols.map(normalizeSymbol)) : null;
  const patterns = f.patterns?.length ? new Set(f.patterns.map(normalizePatternName)) : null;
  const tiers = f.tiers?.length ? new Set(f.tiers) : null;
  const priorities = f.minPriority ? new Set(prioritiesAtLeast(f.minPriority)) : null;
  const since = f.since?.getTime() ?? null;
  const until = f.until?.getTime() ?? null;
  return {
    filter: f,
    symbols,
    tiers,
    matches(d) {
      if (symbols && !symbols.has(d.symbol)) return false;
      if (patterns && !patterns.has(d.pattern.toLowerCase())) return false;
      if (tiers && !tiers.has(d.tier)) return false;
      if (f.minConfidence != null && d.confidence < f.minConfidence) return false;
      if (priorities && !priorities.has(d.priority)) return false;
      if (since !== null || until !== null) {
        const t = d.detectedAt.getTime();
        if (since !== null && t < since) return false;
        if (until !== null && t >= until) return false;
      }
      return true;
    },
  };
}
