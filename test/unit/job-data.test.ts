import { describe, expect, it } from 'vitest';
import type { PatternEvent } from '../../src/schema/events.js';
import { parseInbound } from '../../src/schema/inbound.js';
import { jobDataSchemas } from '../../src/workers/job-data.js';

const receivedAt = new Date('2025-11-26T15:00:00.000Z');

function detection(message: unknown): PatternEvent {
  const parsed = parseInbound('pattern', Buffer.from(JSON.stringify(message)), receivedAt);
  if (!parsed.ok || parsed.event.kind !== 'pattern') throw new Error('expected a detection');
  return parsed.event;
}

describe('job data: the queue boundary', () => {
  it('carries the source hint of a detection', () => {
    const event = detection({ source: 'TickStockPL', data: { pattern: 'Doji', symbol: 'AAPL', confidence: 0.7, source: 'hourly' } });
    expect(jobDataSchemas.patterns.parse({ kind: 'patterns', events: [event] })).toEqual({ kind: 'patterns', events: [event] });
  });

  it('reads a job queued before sourceHint existed as having none', () => {
    const { sourceHint: _omitted, ...legacy } = detection({ pattern: 'Doji', symbol: 'AAPL', confidence: 0.7, source: 'daily' });
    expect(jobDataSchemas.pattern.parse(legacy).sourceHint).toBeNull();
  });
});
