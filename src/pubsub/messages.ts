/**
 * The wire form of each topic's value, and the two mappers: `encode` before PUBLISH, `decode`
 * once per message per API process (so every subscriber shares one decoded object). Only the
 * fields listed here cross Redis; whatever else a value carries stays home.
 */
import type { Topic, TopicValues } from '../schema/topics.js';

/** JSON has no dates: each `Date` field travels as an ISO-8601 string. */
export type Wire<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
export type TopicMessages = { [T in Topic]: Wire<TopicValues[T]> };

type Fields<T> = { [K in keyof T]-?: T[K] extends Date | null ? 'date' : 'value' };

const FIELDS: { [T in Topic]: Fields<TopicValues[T]> } = {
  patternAlert: {
    id: 'value',
    eventId: 'value',
    symbol: 'value',
    pattern: 'value',
    confidence: 'value',
    tier: 'value',
    priority: 'value',
    timeframe: 'value',
    category: 'value',
    price: 'value',
    detectedAt: 'date',
    receivedAt: 'date',
    expiresAt: 'date',
    source: 'value',
    metadata: 'value',
    storedAt: 'date',
  },
  backtestProgress: {
    jobId: 'value',
    progress: 'value',
    status: 'value',
    currentSymbol: 'value',
    processedSymbols: 'value',
    estimatedCompletion: 'date',
    at: 'date',
  },
  backtestResult: { jobId: 'value', status: 'value', results: 'value', processingTimeSeconds: 'value', at: 'date' },
  systemHealth: { status: 'value', source: 'value', metrics: 'value', at: 'date' },
  watchlistsChanged: { userId: 'value' },
};

export function encode<T extends Topic>(topic: T, value: TopicValues[T]): TopicMessages[T] {
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(FIELDS[topic])) {
    const v = (value as unknown as Record<string, unknown>)[key] ?? null;
    out[key] = kind === 'date' && v !== null ? (v as Date).toISOString() : v;
  }
  return out as TopicMessages[T];
}

export function decode<T extends Topic>(topic: T, message: TopicMessages[T]): TopicValues[T] {
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(FIELDS[topic])) {
    const v = (message as Record<string, unknown>)[key] ?? null;
    out[key] = kind === 'date' && v !== null ? new Date(v as string) : v;
  }
  return out as unknown as TopicValues[T];
}
