import type { DrizzleDb } from '../db/client.js';
import { findRecentByConfidence } from '../db/detection-queries.js';
import type { Detection } from '../schema/topics.js';
import type { Tier } from '../schema/events.js';
import { normalizeSymbol, parseSymbol, SYMBOL_RULE } from '../domain/symbols.js';

/** Contract §3: the endpoints of the system Patternwire replaces, with their defaults. */
const ENDPOINTS: Record<string, { tier: Tier; windowMs: number; defaultLimit: number }> = {
  daily: { tier: 'DAILY', windowMs: 7 * 86_400_000, defaultLimit: 50 },
  intraday: { tier: 'INTRADAY', windowMs: 86_400_000, defaultLimit: 75 },
  combo: { tier: 'COMBO', windowMs: 3 * 86_400_000, defaultLimit: 25 },
};

export interface RestResponse {
  status: number;
  body: unknown;
}

class BadRequest extends Error {}

function parseNumberParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number, integer: boolean) {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const kind = integer ? 'a whole number' : 'a number';
    throw new BadRequest(`${name} must be ${kind} from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function parseSymbols(params: URLSearchParams): string[] | null {
  const raw = params.get('symbols');
  if (raw === null || raw.trim() === '') return null;
  const symbols = [
    ...new Set(
      raw
        .split(',')
        .map(normalizeSymbol)
        .filter((s) => s.length > 0),
    ),
  ];
  const bad = symbols.find((s) => parseSymbol(s) === null);
  if (bad !== undefined) {
    throw new BadRequest(`symbols must be a comma-separated list of ticker symbols (${SYMBOL_RULE}), got "${bad}"`);
  }
  if (symbols.length > 100) throw new BadRequest(`symbols may list at most 100 symbols, got ${symbols.length}`);
  return symbols.length ? symbols : null;
}

function toLegacy(row: Detection) {
  return {
    id: String(row.id),
    symbol: row.symbol,
    pattern_type: row.pattern,
    confidence: row.confidence,
    tier: row.tier.toLowerCase(),
    priority: row.priority,
    detection_timestamp: row.detectedAt.toISOString(),
    timeframe: row.timeframe,
    metadata: row.metadata ?? {},
  };
}

/** Returns null for a path that is not one of the endpoints. */
export async function handleRestRequest(db: DrizzleDb, url: URL, now = new Date()): Promise<RestResponse | null> {
  const match = /^\/api\/patterns\/([a-z]+)\/?$/.exec(url.pathname);
  const endpoint = match ? ENDPOINTS[match[1] ?? ''] : undefined;
  if (!match) return null;
  if (!endpoint) {
    return { status: 404, body: { error: `unknown tier "${match[1]}": use /api/patterns/daily, /intraday or /combo` } };
  }
  const started = performance.now();
  let symbols: string[] | null;
  let confidenceMin: number;
  let limit: number;
  try {
    symbols = parseSymbols(url.searchParams);
    confidenceMin = parseNumberParam(url.searchParams, 'confidence_min', 0.6, 0, 1, false);
    limit = parseNumberParam(url.searchParams, 'limit', endpoint.defaultLimit, 1, 200, true);
  } catch (err) {
    if (err instanceof BadRequest) return { status: 400, body: { error: err.message } };
    throw err;
  }
  const rows = await findRecentByConfidence(db, {
    tier: endpoint.tier,
    since: new Date(now.getTime() - endpoint.windowMs),
    symbols,
    minConfidence: confidenceMin,
    limit,
  });
  return {
    status: 200,
    body: {
      patterns: rows.map(toLegacy),
      metadata: {
        count: rows.length,
        tier: endpoint.tier.toLowerCase(),
        confidence_min: confidenceMin,
        symbols_filter: symbols ?? 'all',
        response_time_ms: Math.round((performance.now() - started) * 10) / 10,
      },
    },
  };
}
