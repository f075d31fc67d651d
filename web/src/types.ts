/**
 * The shapes the dashboard reads from the API (contract §2, §6), as they arrive in JSON: ids and
 * dates are strings. Tier and Priority are the schema's own types.
 */
import type { Priority, Tier } from '../../src/schema/enums.js';
import type { PatternFilterInput } from '../../src/client/alert-client.js';

export type { Priority, Tier, PatternFilterInput };

/** The fields of a detection one row shows (ROW_FIELDS selects exactly these). */
export interface Row {
  id: string;
  symbol: string;
  pattern: string;
  confidence: number;
  tier: Tier;
  priority: Priority;
  detectedAt: string;
  receivedAt: string;
}

export const ROW_FIELDS = 'id symbol pattern confidence tier priority detectedAt receivedAt';

export interface Watchlist {
  id: string;
  name: string;
  filter: {
    symbols: string[] | null;
    patterns: string[] | null;
    tiers: Tier[] | null;
    minConfidence: number | null;
    minPriority: Priority | null;
  };
}

export interface BacktestProgress {
  jobId: string;
  progress: number;
  status: string;
  currentSymbol: string | null;
  processedSymbols: number | null;
  estimatedCompletion: string | null;
  at: string;
}

export interface BacktestResult {
  jobId: string;
  status: string;
  results: Record<string, unknown> | null;
  processingTimeSeconds: number | null;
  at: string;
}

export interface SystemHealth {
  publisher: { status: string; source: string | null; at: string } | null;
  pipeline: {
    status: string;
    queueWaiting: number;
    queueFailed: number;
    lastEventAt: string | null;
    reasons: string[];
  };
}
