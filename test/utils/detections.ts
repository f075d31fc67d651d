import type { Detection } from '../../src/schema/topics.js';

/** Detection `n` of AAPL (a daily Doji at 0.9, HIGH), stored now, with what `over` changes. */
export function storedDetection(n: number, over: Partial<Detection> = {}): Detection {
  const now = new Date();
  return {
    id: n,
    eventId: `e${n}`,
    symbol: 'AAPL',
    pattern: 'Doji',
    confidence: 0.9,
    tier: 'DAILY',
    priority: 'HIGH',
    timeframe: null,
    category: null,
    price: null,
    detectedAt: now,
    receivedAt: now,
    expiresAt: null,
    source: 'test',
    metadata: null,
    storedAt: now,
    ...over,
  };
}
