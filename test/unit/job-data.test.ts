import { describe, expect, it } from 'vitest';
import { parseInbound } from '../../src/domain/inbound.js';
import { patternEventSchema, type PatternEvent } from '../../src/schema/events.js';
import { jobDataSchemas } from '../../src/schema/jobs.js';

const receivedAt = new Date('2025-11-26T15:00:00.000Z');

function detection(message: unknown): PatternEvent {
  const parsed = parseInbound('pattern', Buffer.from(JSON.stringify(message)), receivedAt);
  if (!parsed.ok || parsed.event.kind !== 'pattern') throw new Error('expected a detection');
  return parsed.event;
}

describe('job data: the queue boundary', () => {
  it('carries the source hint of a detection', () => {
    const event = detection({
      source: 'TickStockPL',
      data: { pattern: 'Doji', symbol: 'AAPL', confidence: 0.7, source: 'hourly' },
    });
    expect(jobDataSchemas.detections.parse({ kind: 'detections', events: [event] })).toEqual({
      kind: 'detections',
      events: [event],
    });
  });

  it('reads a job queued before sourceHint existed as having none', () => {
    const { sourceHint: _omitted, ...legacy } = detection({ pattern: 'Doji', symbol: 'AAPL', confidence: 0.7, source: 'daily' });
    expect(patternEventSchema.parse(legacy).sourceHint).toBeNull();
  });
});
