import { z } from 'zod';
import type {
  BacktestProgressEvent,
  BacktestResultEvent,
  HealthEvent,
  JsonObject,
  PatternBatch,
  PatternEvent,
  RejectedMessage,
} from '../schema/events.js';

/**
 * The queue is a boundary too: anything with Redis access can add a job. Workers check
 * job data against these before touching the database; a mismatch is bad data, not a fault.
 */
const iso = z.iso.datetime({ offset: true });
const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;

const pattern: z.ZodType<PatternEvent> = z.object({
  kind: z.literal('pattern'),
  eventId: z.string().min(1),
  symbol: z.string().min(1).max(20),
  pattern: z.string().min(1).max(100),
  confidence: z.number().min(0).max(1),
  tierHint: z.string().nullable(),
  // Absent in jobs queued before the field existed: the rules then decide as they did then.
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

const patterns: z.ZodType<PatternBatch> = z.object({
  kind: z.literal('patterns'),
  events: z.array(pattern).min(1).max(1_000),
});

const backtestProgress: z.ZodType<BacktestProgressEvent> = z.object({
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

const backtestResult: z.ZodType<BacktestResultEvent> = z.object({
  kind: z.literal('backtestResult'),
  eventId: z.string().min(1),
  jobId: z.string().min(1),
  status: z.string(),
  results: jsonObject.nullable(),
  processingTimeSeconds: z.number().nullable(),
  at: iso,
  receivedAt: iso,
});

const health: z.ZodType<HealthEvent> = z.object({
  kind: z.literal('health'),
  eventId: z.string().min(1),
  status: z.string(),
  source: z.string().nullable(),
  metrics: jsonObject.nullable(),
  at: iso,
  receivedAt: iso,
});

const rejected: z.ZodType<RejectedMessage> = z.object({
  kind: z.literal('rejected'),
  eventId: z.string().min(1),
  channel: z.string(),
  reason: z.string(),
  payloadBase64: z.base64(),
  byteLength: z.number().int().nonnegative(),
  receivedAt: iso,
});

/** Keyed by job name; the names are the event kinds. */
export const jobDataSchemas = { patterns, pattern, backtestProgress, backtestResult, health, rejected } as const;
