import type { Classification, PatternEvent, Priority, Tier } from '../schema/events.js';

// A Map, not an object literal: a hint such as "constructor" must not find a prototype member.
const EXPLICIT_TIERS = new Map<string, Tier>([
  ['daily', 'DAILY'],
  ['intraday', 'INTRADAY'],
  ['combo', 'COMBO'],
]);
// Rule 1b: the replaced system read the detection's own `source` as its tier, hourly included.
const SOURCE_TIERS = new Map<string, Tier>([...EXPLICIT_TIERS, ['hourly', 'INTRADAY']]);

// prettier-ignore
const INTRADAY_UNITS = new Set([
  's', 'sec', 'secs', 'second', 'seconds',
  'm', 'min', 'mins', 'minute', 'minutes', 'minutely',
  'h', 'hr', 'hrs', 'hour', 'hours', 'hourly',
  'intraday',
]);
// prettier-ignore
const DAILY_UNITS = new Set([
  'd', 'day', 'days', 'daily',
  'w', 'wk', 'wks', 'week', 'weeks', 'weekly',
  'mo', 'mos', 'mon', 'mth', 'mths', 'month', 'months', 'monthly',
  'q', 'qtr', 'quarter', 'quarters', 'quarterly',
  'y', 'yr', 'yrs', 'year', 'years', 'yearly', 'annual', 'annually',
]);

const TIMEFRAME = /^(\d*)\s*([a-z]+)$/i;

/** Contract §1 tier rules, first match wins, then priority from confidence. */
export function classifyDetection(
  e: Pick<PatternEvent, 'tierHint' | 'sourceHint' | 'timeframe' | 'category' | 'pattern' | 'confidence'>,
): Classification {
  const priority = priorityFor(e.confidence);
  const hint = e.tierHint?.trim() ?? '';
  const explicit = EXPLICIT_TIERS.get(hint.toLowerCase());
  if (explicit) return { tier: explicit, priority, unrecognisedTier: null };
  // An unrecognised explicit tier is noted whichever later rule decides.
  const unrecognisedTier = hint === '' ? null : e.tierHint;
  const bySource = SOURCE_TIERS.get(e.sourceHint?.trim().toLowerCase() ?? '');
  return { tier: bySource ?? tierByRules(e), priority, unrecognisedTier };
}

export function priorityFor(confidence: number): Priority {
  if (confidence >= 0.9) return 'CRITICAL';
  if (confidence >= 0.8) return 'HIGH';
  if (confidence >= 0.7) return 'MEDIUM';
  return 'LOW';
}

/** Tier from a timeframe token such as `5min`, `1h`, `1d`, `1mo`; null when the token is unknown. */
export function tierOfTimeframe(timeframe: string): Tier | null {
  const m = TIMEFRAME.exec(timeframe.trim());
  if (!m) return null;
  const [, count = '', unit = ''] = m;
  if (count !== '' && Number(count) === 0) return null;
  // Exchanges and pandas write a month as a capital M (`1M`) and a minute as `1m`.
  if (unit === 'M') return 'DAILY';
  const u = unit.toLowerCase();
  if (INTRADAY_UNITS.has(u)) return 'INTRADAY';
  if (DAILY_UNITS.has(u)) return 'DAILY';
  return null;
}

function tierByRules(e: Pick<PatternEvent, 'timeframe' | 'category' | 'pattern'>): Tier {
  const byTimeframe = e.timeframe === null ? null : tierOfTimeframe(e.timeframe);
  if (byTimeframe) return byTimeframe;
  const name = e.pattern.toLowerCase();
  if (e.category?.trim().toLowerCase() === 'combo' || name.includes('combo')) return 'COMBO';
  if (name.includes('intraday') || name.includes('scalp') || name.includes('momentum')) return 'INTRADAY';
  return 'DAILY';
}
