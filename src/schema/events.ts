/**
 * The normalised events that flow from the ingest to the workers as BullMQ job data: one zod
 * schema per event, and its type inferred from it, so the shape is written once. Everything is
 * plain JSON (dates as ISO-8601 strings), because job data is.
 *
 * The queue is a boundary too (anything with Redis access can add a job): workers check job data
 * against these schemas before touching the database; a mismatch is bad data, not a fault.
 */
import { z } from 'zod';

export type ChannelKind = 'pattern' | 'backtestProgress' | 'backtestResult' | 'health';

import { PRIORITIES, TIERS, type Priority, type Tier } from './enums.js';
export { PRIORITIES, TIERS, type Priority, type Tier };

type JsonPrimitive = string | number | boolean | null;
export type Json = JsonPrimitive | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Contract §1: a message over 64 KiB is rejected; a stored raw payload is truncated to this. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** Most detections in one `detections` job. */
export const MAX_EVENTS_PER_JOB = 1_000;

const iso = z.iso.datetime({ offset: true });
const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;

/** A pattern detection after normalisation, before classification. */
export const patternEventSchema = z.object({
  kind: z.literal('pattern'),
  /** Dedup key: the publisher's event_id/id, else SHA-256 (hex) of the raw message bytes. */
  eventId: z.string().min(1),
  symbol: z.string().min(1).max(20),
  pattern: z.string().min(1).max(100),
  confidence: z.number().min(0).max(1),
  /**
   * The explicit `tier` field as sent (any case), from the innermost object that has one, or
   * null when absent. Classification reads it (tier rule 1).
   */
  tierHint: z.string().nullable(),
  /**
   * The innermost object's own `source` as sent, or null. Classification reads a tier word
   * there (rule 1b); an outer wrapper's `source` is the sender's name and never lands here.
   * Absent in jobs queued before the field existed: the rules then decide as they did then.
   */
  sourceHint: z.string().nullable().default(null),
  timeframe: z.string().nullable(),
  category: z.string().nullable(),
  price: z.number().nullable(),
  detectedAt: iso,
  receivedAt: iso,
  expiresAt: iso.nullable(),
  source: z.string(),
  metadata: jsonObject,
});
export type PatternEvent = z.infer<typeof patternEventSchema>;

/**
 * Detections that travel in one job: what reached the ingest while its previous enqueue was in
 * flight (one when traffic is light). Dedup is per event, in the database.
 */
export const detectionBatchSchema = z.object({
  kind: z.literal('detections'),
  events: z.array(patternEventSchema).min(1).max(MAX_EVENTS_PER_JOB),
});
export type DetectionBatch = z.infer<typeof detectionBatchSchema>;

export const backtestProgressEventSchema = z.object({
  kind: z.literal('backtestProgress'),
  eventId: z.string().min(1),
  jobId: z.string().min(1),
  progress: z.number().min(0).max(1),
  status: z.string(),
  currentSymbol: z.string().nullable(),
  processedSymbols: z.number().int().nullable(),
  estimatedCompletion: iso.nullable(),
  at: iso,
  receivedAt: iso,
});
export type BacktestProgressEvent = z.infer<typeof backtestProgressEventSchema>;

export const backtestResultEventSchema = z.object({
  kind: z.literal('backtestResult'),
  eventId: z.string().min(1),
  jobId: z.string().min(1),
  status: z.string(),
  results: jsonObject.nullable(),
  processingTimeSeconds: z.number().nullable(),
  at: iso,
  receivedAt: iso,
});
export type BacktestResultEvent = z.infer<typeof backtestResultEventSchema>;

export const healthEventSchema = z.object({
  kind: z.literal('health'),
  eventId: z.string().min(1),
  status: z.string(),
  source: z.string().nullable(),
  metrics: jsonObject.nullable(),
  at: iso,
  receivedAt: iso,
});
export type HealthEvent = z.infer<typeof healthEventSchema>;

export type InboundEvent = PatternEvent | BacktestProgressEvent | BacktestResultEvent | HealthEvent;

/** A message that failed the contract's rules; stored, counted, never retried. */
export const rejectedMessageSchema = z.object({
  kind: z.literal('rejected'),
  /** SHA-256 (hex) of channel + raw bytes, so two ingest replicas store one row. */
  eventId: z.string().min(1),
  channel: z.string(),
  reason: z.string(),
  /** Raw bytes, base64, truncated to MAX_MESSAGE_BYTES. */
  payloadBase64: z.base64(),
  /** Size of the message as received, before truncation. */
  byteLength: z.number().int().nonnegative(),
  receivedAt: iso,
});
export type RejectedMessage = z.infer<typeof rejectedMessageSchema>;

/** Most rejects in one `rejects` job, and most payload bytes (base64 characters) in one. */
export const MAX_REJECTS_PER_JOB = 1_000;
export const MAX_REJECT_JOB_PAYLOAD_CHARS = 1024 * 1024;

/** What one `rejects` job carries: rejects grouped in arrival order, as detections are. */
export const rejectBatchSchema = z.object({
  kind: z.literal('rejects'),
  rejects: z.array(rejectedMessageSchema).min(1).max(MAX_REJECTS_PER_JOB),
});
export type RejectBatch = z.infer<typeof rejectBatchSchema>;

export type ParseResult = { ok: true; event: InboundEvent } | { ok: false; reason: string };

export interface Classification {
  tier: Tier;
  priority: Priority;
  /** Set when an explicit `tier` value was not recognised and the rules decided instead. */
  unrecognisedTier: string | null;
}
