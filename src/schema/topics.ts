/**
 * What the workers publish and the API delivers, per topic: the values as the API serves them
 * (dates as `Date`). The JSON that crosses Redis is private to `pubsub/`, which turns each value
 * into its wire form and back (one mapper each way).
 */
import type { JsonObject, Priority, Tier } from './events.js';

/** A stored detection as clients see it (contract §2 `PatternDetection`). */
export interface Detection {
  /** The `pattern_detections` id: increasing, and the replay cursor. */
  id: number;
  eventId: string;
  symbol: string;
  pattern: string;
  confidence: number;
  tier: Tier;
  priority: Priority;
  timeframe: string | null;
  category: string | null;
  price: number | null;
  detectedAt: Date;
  receivedAt: Date;
  expiresAt: Date | null;
  source: string;
  metadata: JsonObject | null;
  /**
   * When PostgreSQL stored it (the row's `stored_at`: the writer's transaction start). Not a
   * GraphQL field; the API measures delivery latency from it (contract §8).
   */
  storedAt: Date;
}

export interface BacktestProgress {
  jobId: string;
  progress: number;
  status: string;
  currentSymbol: string | null;
  processedSymbols: number | null;
  estimatedCompletion: Date | null;
  at: Date;
}

export interface BacktestResult {
  jobId: string;
  status: string;
  results: JsonObject | null;
  processingTimeSeconds: number | null;
  at: Date;
}

export interface PublisherHealth {
  status: string;
  source: string | null;
  metrics: JsonObject | null;
  at: Date;
}

/** A user's watchlists changed: every API process re-reads them for that user's open `myAlerts`. */
export interface WatchlistsChanged {
  userId: number;
}

export interface TopicValues {
  patternAlert: Detection;
  backtestProgress: BacktestProgress;
  backtestResult: BacktestResult;
  systemHealth: PublisherHealth;
  watchlistsChanged: WatchlistsChanged;
}
export type Topic = keyof TopicValues;
