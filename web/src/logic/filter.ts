/**
 * The filter bar's choice, as a `PatternFilter` for the queries and the subscription. The server
 * judges it (symbol rule, at most 100 symbols): its BAD_USER_INPUT message is what the page shows.
 */
import type { PatternFilterInput, Priority, Watchlist } from '../types.js';

export type FilterChoice =
  { kind: 'typed'; symbols: readonly string[]; minPriority: Priority | null } | { kind: 'watchlist'; watchlist: Watchlist };

export const NO_FILTER: FilterChoice = { kind: 'typed', symbols: [], minPriority: null };

/** `aapl, NVDA  msft` → `['AAPL', 'NVDA', 'MSFT']`: split on commas and spaces, upper-cased, each once. */
export function parseSymbols(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,;]+/)
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean),
    ),
  ];
}

/** The GraphQL filter of a choice; null when it filters nothing. */
export function toPatternFilter(choice: FilterChoice): PatternFilterInput | null {
  if (choice.kind === 'watchlist') {
    const f = choice.watchlist.filter;
    const out: PatternFilterInput = {};
    if (f.symbols?.length) out.symbols = f.symbols;
    if (f.patterns?.length) out.patterns = f.patterns;
    if (f.tiers?.length) out.tiers = f.tiers;
    if (f.minConfidence != null) out.minConfidence = f.minConfidence;
    if (f.minPriority) out.minPriority = f.minPriority;
    return Object.keys(out).length ? out : null;
  }
  const out: PatternFilterInput = {};
  if (choice.symbols.length) out.symbols = choice.symbols;
  if (choice.minPriority) out.minPriority = choice.minPriority;
  return Object.keys(out).length ? out : null;
}

/** One line saying what is shown: `AAPL, NVDA · HIGH and above`. */
export function describeFilter(choice: FilterChoice): string {
  const f = toPatternFilter(choice);
  if (!f) return 'all detections';
  const parts: string[] = [];
  if (f.symbols?.length) parts.push(f.symbols.length > 6 ? `${f.symbols.length} symbols` : f.symbols.join(', '));
  if (f.patterns?.length) parts.push(f.patterns.join(', '));
  if (f.tiers?.length) parts.push(f.tiers.map((t) => t.toLowerCase()).join(' + '));
  if (f.minConfidence != null) parts.push(`confidence ≥ ${f.minConfidence}`);
  if (f.minPriority && f.minPriority !== 'LOW')
    parts.push(f.minPriority === 'CRITICAL' ? 'CRITICAL' : `${f.minPriority} and above`);
  return parts.join(' · ') || 'all detections';
}
