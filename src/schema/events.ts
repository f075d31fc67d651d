/**
 * The normalised events that flow from the ingest to the workers as BullMQ job data.
 * Everything here is plain JSON (dates as ISO-8601 strings), because job data is.
 */

export type ChannelKind = 'pattern' | 'backtestProgress' | 'backtestResult' | 'health';

export const TIERS = ['DAILY', 'INTRADAY', 'COMBO'] as const;
export type Tier = (typeof TIERS)[number];

/** Highest first: the order matters for `minPriority`. */
export const PRIORITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
export type Priority = (typeof PRIORITIES)[number];

type JsonPrimitive = string | number | boolean | null;
export type Json = JsonPrimitive | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A pattern detection after normalisation, before classification. */
export interface PatternEvent {
  kind: 'pattern';
  /** Dedup key: the publisher's event_id/id, else SHA-256 (hex) of the raw message bytes. */
  eventId: string;
  symbol: string;
  pattern: string;
  confidence: number;
  /**
   * The explicit `tier` field as sent (any case), from the innermost object that has one, or
   * null when absent. Classification reads it (tier rule 1).
   */
  tierHint: string | null;
  /**
   * The innermost object's own `source` as sent, or null. Classification reads a tier word
   * there (rule 1b); an outer wrapper's `source` is the sender's name and never lands here.
   */
  sourceHint: string | null;
  timeframe: string | null;
  category: string | null;
  price: number | null;
  detectedAt: string;
  receivedAt: string;
  expiresAt: string | null;
  source: string;
  metadata: JsonObject;
}

/**
 * Detections that travel in one job: what reached the ingest while its previous enqueue was in
 * flight (one when traffic is light). Dedup is per event, in the database.
 */
export interface PatternBatch {
  kind: 'patterns';
  events: PatternEvent[];
}

export interface BacktestProgressEvent {
  kind: 'backtestProgress';
  eventId: string;
  jobId: string;
  progress: number;
  status: string;
  currentSymbol: string | null;
  processedSymbols: number | null;
  estimatedCompletion: string | null;
  at: string;
  receivedAt: string;
}

export interface BacktestResultEvent {
  kind: 'backtestResult';
  eventId: string;
  jobId: string;
  status: string;
  results: JsonObject | null;
  processingTimeSeconds: number | null;
  at: string;
  receivedAt: string;
}

export interface HealthEvent {
  kind: 'health';
  eventId: string;
  status: string;
  source: string | null;
  metrics: JsonObject | null;
  at: string;
  receivedAt: string;
}

export type InboundEvent = PatternEvent | BacktestProgressEvent | BacktestResultEvent | HealthEvent;

/** A message that failed the contract's rules; stored, counted, never retried. */
export interface RejectedMessage {
  kind: 'rejected';
  /** SHA-256 (hex) of channel + raw bytes, so two ingest replicas store one row. */
  eventId: string;
  channel: string;
  reason: string;
  /** Raw bytes, base64, truncated to MAX_MESSAGE_BYTES. */
  payloadBase64: string;
  /** Size of the message as received, before truncation. */
  byteLength: number;
  receivedAt: string;
}

export type ParseResult = { ok: true; event: InboundEvent } | { ok: false; reason: string };

export interface Classification {
  tier: Tier;
  priority: Priority;
  /** Set when an explicit `tier` value was not recognised and the rules decided instead. */
  unrecognisedTier: string | null;
}

/** Contract §1: a message over 64 KiB is rejected; a stored raw payload is truncated to this. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
