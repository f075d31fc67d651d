import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyDetection } from '../../src/domain/classify.js';
import {
  MAX_MESSAGE_BYTES,
  type BacktestProgressEvent,
  type BacktestResultEvent,
  type ChannelKind,
  type HealthEvent,
  type InboundEvent,
  type PatternEvent,
} from '../../src/schema/events.js';
import { parseInbound } from '../../src/domain/inbound.js';
import { parseTimestamp } from '../../src/domain/timestamps.js';

// Read in place: the fixtures are shared with the publisher side and must not drift as copies.
const fixtures = new URL('../../../shared/fixtures/inbound/', import.meta.url);
function fixture<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(file, fixtures), 'utf8')) as T;
}

interface PatternCase {
  name: string;
  message: unknown;
  expect: Record<string, unknown>;
}
interface RejectCase {
  name: string;
  raw?: string;
  message?: unknown;
  reject: string;
}
interface BacktestFixtures {
  progress: Record<string, unknown>[];
  results: Record<string, unknown>[];
  rejects: (RejectCase & { channel: string })[];
}

/** `it.each` rows titled by `%s`: `$name` would quote the title and cut it at 40 characters. */
function named<T extends { name: string }>(cases: T[]): [string, T][] {
  return cases.map((c) => [c.name, c]);
}

const patternCases = fixture<PatternCase[]>('patterns.json');
const rejectCases = fixture<RejectCase[]>('rejects.json');
const backtests = fixture<BacktestFixtures>('backtests.json');
const healthCases = fixture<Record<string, unknown>[]>('health.json');

const receivedAt = new Date('2025-11-26T15:00:00.000Z');

function bytes(message: unknown): Buffer {
  return Buffer.from(typeof message === 'string' ? message : JSON.stringify(message), 'utf8');
}

function accepted(kind: ChannelKind, message: unknown): InboundEvent {
  const result = parseInbound(kind, bytes(message), receivedAt);
  if (!result.ok) throw new Error(`expected ${kind} to be accepted, rejected: ${result.reason}`);
  return result.event;
}

const pattern = (message: unknown) => accepted('pattern', message) as PatternEvent;

function rejection(kind: ChannelKind, message: unknown): string {
  const result = parseInbound(kind, bytes(message), receivedAt);
  if (result.ok) throw new Error(`expected ${kind} to be rejected, accepted: ${JSON.stringify(result.event)}`);
  return result.reason;
}

function pick(object: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}

const doji = { pattern: 'Doji', symbol: 'AAPL', confidence: 0.7 };

describe('fixtures/inbound/patterns.json', () => {
  it.each(named(patternCases))('%s', (_name, c) => {
    const event = pattern(c.message);
    const actual = { ...event, ...classifyDetection(event) };
    expect(pick(actual, Object.keys(c.expect))).toEqual(c.expect);
  });
});

describe('fixtures/inbound/rejects.json', () => {
  it.each(named(rejectCases))('%s', (_name, c) => {
    expect(rejection('pattern', c.raw ?? c.message)).toContain(c.reject);
  });
});

describe('fixtures/inbound/backtests.json', () => {
  it.each(named(backtests.progress.map((message) => ({ message, name: `progress ${String(message.progress)}` }))))(
    '%s',
    (_name, { message }) => {
      const event = accepted('backtestProgress', message) as BacktestProgressEvent;
      expect(event.jobId).toBe(String(message.job_id));
      expect(event.progress).toBe(message.progress);
    },
  );

  it.each(named(backtests.results.map((message) => ({ message, name: `result ${String(message.status)}` }))))(
    '%s',
    (_name, { message }) => {
      const event = accepted('backtestResult', message) as BacktestResultEvent;
      expect(event.jobId).toBe(String(message.job_id));
      expect(event.results).toEqual(message.results);
    },
  );

  it('keeps a numeric job_id as a string', () => {
    const numeric = backtests.results.find((message) => typeof message.job_id === 'number');
    expect((accepted('backtestResult', numeric) as BacktestResultEvent).jobId).toBe('43');
  });

  it.each(named(backtests.rejects))('%s', (_name, c) => {
    const kind = c.channel.endsWith('.progress') ? 'backtestProgress' : 'backtestResult';
    expect(rejection(kind, c.message)).toContain(c.reject);
  });
});

describe('fixtures/inbound/health.json', () => {
  // Contract §1 (newer than the fixture's `{}`): a health message without `status` is rejected.
  const reports = healthCases.filter((message) => message.status !== undefined);
  const statusless = healthCases.filter((message) => message.status === undefined);

  it.each(named(reports.map((message, i) => ({ message, name: `health #${i} ${String(message.status)}` }))))(
    '%s',
    (_name, { message }) => {
      const event = accepted('health', message) as HealthEvent;
      expect(event.status).toBe(message.status);
      expect(event.metrics).toEqual(message.metrics ?? null);
      expect(event.source).toBe(message.source ?? null);
    },
  );

  it.each(named(statusless.map((message) => ({ message, name: `${JSON.stringify(message)} is rejected` }))))(
    '%s',
    (_name, { message }) => {
      expect(rejection('health', message)).toBe('status is required');
    },
  );
});

describe('message size, encoding and shape', () => {
  function sized(length: number): Buffer {
    const base = Buffer.byteLength(JSON.stringify({ ...doji, pad: '' }));
    const message = Buffer.from(JSON.stringify({ ...doji, pad: 'x'.repeat(length - base) }));
    expect(message.byteLength).toBe(length);
    return message;
  }

  it('accepts a message of exactly 64 KiB', () => {
    expect(parseInbound('pattern', sized(MAX_MESSAGE_BYTES), receivedAt).ok).toBe(true);
  });

  it('rejects a message one byte over 64 KiB, naming the size and the limit', () => {
    const result = parseInbound('pattern', sized(MAX_MESSAGE_BYTES + 1), receivedAt);
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('65537') });
    expect(!result.ok && result.reason).toContain('65536');
  });

  it('rejects bytes that are not UTF-8', () => {
    const raw = Buffer.concat([Buffer.from('{"pattern":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const result = parseInbound('pattern', raw, receivedAt);
    expect(!result.ok && result.reason).toContain('JSON');
  });

  it.each([
    ['null', 'null'],
    ['a string', '"hello"'],
    ['a number', '42'],
  ])('rejects JSON that is %s, not an object', (_what, raw) => {
    expect(rejection('health', raw)).toContain('object');
  });

  it('rejects absurd nesting that would overflow JSON.stringify later', () => {
    const depth = 30_000;
    const raw = `{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(rejection('pattern', raw)).toContain('nested');
  });
});

describe('values PostgreSQL cannot store are rejected at the door', () => {
  const NUL = '\u0000';
  const LONE = '\ud800';
  const nested = (inner: Record<string, unknown>) => ({ source: 'TickStockPL', data: { data: { ...doji, ...inner } } });

  // Each field the issue names, with each bad character; the reason says where it was.
  const cases: [string, ChannelKind, (bad: string) => unknown, string][] = [
    ['pattern name', 'pattern', (bad) => ({ ...doji, pattern: `Doji${bad}` }), 'pattern'],
    ['source', 'pattern', (bad) => ({ ...doji, source: `engine${bad}` }), 'source'],
    ['timeframe', 'pattern', (bad) => ({ ...doji, timeframe: `5m${bad}` }), 'timeframe'],
    ['event_id', 'pattern', (bad) => ({ ...doji, event_id: `e-1${bad}` }), 'event_id'],
    ['a nested name', 'pattern', (bad) => nested({ pattern: `Doji${bad}` }), 'data.data.pattern'],
    ['a metadata key', 'pattern', (bad) => ({ ...doji, metadata: { [`k${bad}`]: 1 } }), 'a key in metadata'],
    ['a deep array value', 'pattern', (bad) => ({ ...doji, indicators: { xs: ['ok', bad] } }), 'indicators.xs[1]'],
    ['a health status', 'health', (bad) => ({ status: `healthy${bad}` }), 'status'],
    ['a backtest job_id', 'backtestResult', (bad) => ({ job_id: `job${bad}` }), 'job_id'],
    ['a progress job_id', 'backtestProgress', (bad) => ({ job_id: `job${bad}`, progress: 0.5 }), 'job_id'],
  ];

  it.each(cases)('a NUL in %s', (_what, kind, make, where) => {
    const reason = rejection(kind, make(NUL));
    expect(reason).toContain(where);
    expect(reason).toContain('NUL');
  });

  it.each(cases)('a lone surrogate in %s', (_what, kind, make, where) => {
    const reason = rejection(kind, make(LONE));
    expect(reason).toContain(where);
    expect(reason).toContain('lone UTF-16 surrogate');
  });

  it('reads the escapes as the publisher writes them, and a low half alone too', () => {
    expect(rejection('pattern', String.raw`{"pattern":"Doji\u0000","symbol":"AAPL","confidence":0.7}`)).toContain('NUL');
    expect(rejection('pattern', String.raw`{"pattern":"\udc00Doji","symbol":"AAPL","confidence":0.7}`)).toContain('surrogate');
    expect(rejection('pattern', String.raw`{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"\ud83d":1}`)).toBe(
      'a key at the top level ("\\ud83d") holds a lone UTF-16 surrogate, which is not valid Unicode text',
    );
  });

  it('keeps surrogate pairs: an emoji is fine, escaped or not', () => {
    expect(pattern({ ...doji, note: '📈 up' }).metadata).toEqual({ note: '📈 up' });
    expect(pattern(String.raw`{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"note":"\ud83d\udcc8"}`).metadata).toEqual({
      note: '📈',
    });
  });

  it('a reason never carries half a surrogate pair, even when it cuts a long value short', () => {
    const reason = rejection('pattern', { ...doji, symbol: `${'A'.repeat(55)}${'📈'.repeat(5)}` });
    expect(reason).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });

  it.each([
    ['price_at_detection', '{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"price_at_detection":1e400}'],
    ['metadata.deep[1]', '{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"metadata":{"deep":[1,-1e999]}}'],
    ['data.price', '{"x":1,"data":{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"price":1E400}}'],
    ['x', '{"x":1E400,"data":{"pattern":"Doji","symbol":"AAPL","confidence":0.7}}'],
  ])('a number that overflows to Infinity at %s', (where, raw) => {
    expect(rejection('pattern', raw)).toBe(`${where} is a number too large to represent (it overflows to Infinity)`);
  });

  it('an overflowing number on the health channel, too', () => {
    expect(rejection('health', '{"status":"healthy","metrics":{"cpu":1e500}}')).toBe(
      'metrics.cpu is a number too large to represent (it overflows to Infinity)',
    );
  });

  it.each([
    ['event_id', 'pattern', '{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"event_id":9007199254740993}'],
    ['id', 'pattern', '{"data":{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"id":12345678901234567890}}'],
    ['id', 'pattern', '{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"id":12.5}'],
    ['job_id', 'backtestResult', '{"job_id":9007199254740992}'],
    ['job_id', 'backtestProgress', '{"job_id":1e17,"progress":0.5}'],
    ['event_id', 'health', '{"status":"healthy","event_id":-9007199254740993}'],
  ] as const)('a numeric %s that is not a safe integer (%s)', (key, kind, raw) => {
    const reason = rejection(kind, raw);
    expect(reason).toContain(key);
    expect(reason).toContain('safe integer');
  });

  it('keeps numeric ids up to 2^53 - 1', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(pattern({ ...doji, event_id: max }).eventId).toBe(String(max));
    expect((accepted('backtestResult', { job_id: -max }) as BacktestResultEvent).jobId).toBe(String(-max));
  });
});

describe('pattern fields', () => {
  it.each(['NaN', 'Infinity', '-Infinity', '', ' ', '0x1', '1e400'])('rejects confidence %j', (confidence) => {
    expect(rejection('pattern', { ...doji, confidence })).toContain('confidence');
  });

  it('rejects a confidence that JSON.parse turns into Infinity', () => {
    expect(rejection('pattern', '{"pattern":"Doji","symbol":"AAPL","confidence":1e400}')).toContain('confidence');
  });

  it('rejects NaN written as a bare token: that is not JSON', () => {
    expect(rejection('pattern', '{"pattern":"Doji","symbol":"AAPL","confidence":NaN}')).toContain('JSON');
  });

  it.each([
    [-0.01, false],
    [0, true],
    [1, true],
    [1.0001, false],
    [' 0.75 ', true],
  ])('confidence %j accepted: %s', (confidence, ok) => {
    expect(parseInbound('pattern', bytes({ ...doji, confidence }), receivedAt).ok).toBe(ok);
  });

  it('says what was wrong with the confidence', () => {
    expect(rejection('pattern', { ...doji, confidence: 1.7 })).toBe('confidence must be a number between 0 and 1, got 1.7');
  });

  it('trims and upper-cases the symbol', () => {
    expect(pattern({ ...doji, symbol: '  brk.b ' }).symbol).toBe('BRK.B');
    expect(pattern({ ...doji, symbol: '^gspc' }).symbol).toBe('^GSPC');
    expect(pattern({ ...doji, symbol: 'eur/usd=x' }).symbol).toBe('EUR/USD=X');
  });

  it.each([
    ['A'.repeat(20), true],
    ['A'.repeat(21), false],
    ['   ', false],
    [42, false],
    ['AAPL US', false],
  ])('symbol %j accepted: %s', (symbol, ok) => {
    const result = parseInbound('pattern', bytes({ ...doji, symbol }), receivedAt);
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.reason).toContain('symbol');
  });

  it('rejects a pattern name over 100 characters, naming the field it came from', () => {
    expect(pattern({ symbol: 'AAPL', confidence: 0.7, pattern_type: ` ${'P'.repeat(100)} ` }).pattern).toHaveLength(100);
    const reason = rejection('pattern', { symbol: 'AAPL', confidence: 0.7, pattern_name: 'P'.repeat(101) });
    expect(reason).toContain('pattern_name');
  });

  it('reads numeric strings of epoch milliseconds and seconds', () => {
    expect(pattern({ ...doji, detection_timestamp: '1764167400250' }).detectedAt).toBe('2025-11-26T14:30:00.250Z');
    expect(pattern({ ...doji, timestamp: '1764167400.5' }).detectedAt).toBe('2025-11-26T14:30:00.500Z');
  });

  it('falls back to the nearest enclosing timestamp, then to the time received', () => {
    const nested = { timestamp: 1764167000, data: { timestamp: 1764167400, data: { ...doji } } };
    expect(pattern(nested).detectedAt).toBe('2025-11-26T14:30:00.000Z');
    expect(pattern(doji).detectedAt).toBe(receivedAt.toISOString());
  });

  it('prefers detection_timestamp and does not fall through when it is invalid', () => {
    const reason = rejection('pattern', { ...doji, detection_timestamp: 'soon', timestamp: 1764167400 });
    expect(reason).toBe('detection_timestamp "soon" is not epoch seconds, epoch milliseconds or an ISO-8601 date');
  });

  it('rejects an unparseable expires_at, naming it', () => {
    expect(rejection('pattern', { ...doji, expires_at: 'never' })).toContain('expires_at');
  });

  it("takes the innermost tier, else the nearest wrapper's, as the tier hint", () => {
    const inner = { ...doji, tier: 'combo' };
    expect(pattern({ tier: 'daily', data: { tier: 'intraday', data: inner } }).tierHint).toBe('combo');
    expect(pattern({ tier: 'daily', data: { tier: 'intraday', data: doji } }).tierHint).toBe('intraday');
    expect(pattern({ tier: 'daily', data: { flow_id: 'f', data: doji } }).tierHint).toBe('daily');
    expect(pattern({ tier: 'daily', data: { tier: ' ', data: doji } }).tierHint).toBe('daily');
    // A wrapper's tier stays in the envelope; the record's own becomes the hint, not metadata.
    expect(pattern({ data: { tier: 'Daily', data: doji } }).metadata).toEqual({ envelope: { tier: 'Daily' } });
    expect(pattern({ ...doji, tier: 'weekly' }).metadata).toEqual({});
  });

  it("carries the innermost object's own source as the source hint, never a wrapper's", () => {
    expect(pattern({ source: 'TickStockPL', data: { ...doji, source: 'daily' } }).sourceHint).toBe('daily');
    expect(pattern({ source: 'daily', data: { ...doji } }).sourceHint).toBeNull();
    expect(pattern({ source: 'daily', data: { source: 'hourly', data: doji } }).sourceHint).toBeNull();
    expect(pattern({ ...doji, source: ' Hourly ' })).toMatchObject({ sourceHint: ' Hourly ', source: 'Hourly' });
    expect(pattern({ ...doji, source: 7 }).sourceHint).toBeNull();
  });

  it('takes the outermost source as the publisher', () => {
    expect(pattern({ source: 'TickStockPL', data: { ...doji, source: 'daily' } }).source).toBe('TickStockPL');
    const inner = pattern({ event_type: 'x', data: { ...doji, source: 'inner' } });
    expect(inner).toMatchObject({ source: 'inner', metadata: { envelope: { event_type: 'x' } } });
    expect(inner.metadata).not.toHaveProperty('source');
    expect(pattern(doji).source).toBe('unknown');
  });

  it('maps price, timeframe/interval, category and tier', () => {
    const event = pattern({
      ...doji,
      price_at_detection: '187.5',
      interval: '5m',
      category: 'reversal',
      tier: 'Daily ',
    });
    expect(pick({ ...event }, ['price', 'timeframe', 'category', 'tierHint'])).toEqual({
      price: 187.5,
      timeframe: '5m',
      category: 'reversal',
      tierHint: 'Daily ',
    });
    expect(pattern(doji)).toMatchObject({
      price: null,
      timeframe: null,
      category: null,
      tierHint: null,
      expiresAt: null,
    });
  });
});

describe('metadata', () => {
  it('keeps unknown fields, unused aliases and the envelope, and nothing mapped to a column', () => {
    const event = pattern({
      event_type: 'pattern_detected',
      source: 'TickStockPL',
      timestamp: 1764167000,
      flow_id: 'outer',
      data: {
        flow_id: 'flow_7',
        data: {
          pattern: 'Hammer',
          pattern_type: 'candlestick',
          symbol: 'nvda',
          confidence: 0.72,
          timeframe: '15min',
          current_price: 181.2,
          price_change: -0.4,
          indicators: { rsi: 31.5, volumes: [1, 2, 3] },
          source: 'intraday-engine',
          metadata: { run: 9, indicators: 'kept from metadata' },
          extra: null,
        },
      },
    });
    expect(event.metadata).toEqual({
      run: 9,
      indicators: 'kept from metadata',
      pattern_type: 'candlestick',
      price_change: -0.4,
      source: 'intraday-engine',
      extra: null,
      envelope: { event_type: 'pattern_detected', source: 'TickStockPL', timestamp: 1764167000, flow_id: 'flow_7' },
    });
  });

  it('stores a metadata field that is not an object under "metadata"', () => {
    expect(pattern({ ...doji, metadata: [1, 2] }).metadata).toEqual({ metadata: [1, 2] });
  });

  it('keeps a column field of the wrong type in metadata instead of rejecting', () => {
    const event = pattern({ ...doji, timeframe: 5, current_price: 'n/a' });
    expect(event).toMatchObject({ timeframe: null, price: null, metadata: { timeframe: 5, current_price: 'n/a' } });
  });

  it('stores a "__proto__" field as data without touching the prototype', () => {
    const event = pattern(`{"pattern":"Doji","symbol":"AAPL","confidence":0.7,"__proto__":{"polluted":true}}`);
    expect(Object.getPrototypeOf(event.metadata)).toBe(Object.prototype);
    expect(JSON.stringify(event.metadata)).toBe('{"__proto__":{"polluted":true}}');
  });
});

describe('dedup key', () => {
  it('is the SHA-256 of the raw bytes: equal for identical bytes, different otherwise', () => {
    const raw = JSON.stringify(doji);
    const a = pattern(raw).eventId;
    expect(a).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(pattern(raw).eventId).toBe(a);
    expect(pattern(JSON.stringify({ ...doji, confidence: 0.71 })).eventId).not.toBe(a);
    expect(pattern(JSON.stringify(doji, null, 2)).eventId).not.toBe(a);
  });

  it("is the publisher's id, a number turned into a string", () => {
    expect(pattern({ ...doji, id: 12345 }).eventId).toBe('12345');
    expect(pattern({ ...doji, id: 'b', event_id: 'a' })).toMatchObject({ eventId: 'a', metadata: { id: 'b' } });
  });

  it('falls back to the hash when the publisher id is unusable', () => {
    expect(pattern({ ...doji, event_id: '' }).eventId).toMatch(/^[0-9a-f]{64}$/);
    expect(pattern({ ...doji, event_id: 'x'.repeat(201) }).eventId).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('backtests and health', () => {
  it('defaults status and timestamp, and accepts a numeric-string progress', () => {
    const event = accepted('backtestProgress', { job_id: 7, progress: '0.5' }) as BacktestProgressEvent;
    expect(event).toMatchObject({
      jobId: '7',
      progress: 0.5,
      status: 'running',
      currentSymbol: null,
      processedSymbols: null,
      estimatedCompletion: null,
      at: receivedAt.toISOString(),
    });
    const result = accepted('backtestResult', { job_id: 'j' }) as BacktestResultEvent;
    expect(result).toMatchObject({ status: 'completed', results: null, processingTimeSeconds: null });
  });

  it.each([
    ['backtestProgress', { job_id: 'j', progress: 0.5, processed_symbols: 2.5 }, 'processed_symbols'],
    ['backtestProgress', { job_id: 'j', progress: 0.5, estimated_completion: 'later' }, 'estimated_completion'],
    ['backtestProgress', { job_id: '', progress: 0.5 }, 'job_id'],
    ['backtestResult', { results: {} }, 'job_id'],
    ['backtestResult', { job_id: 'j', results: [0.5] }, 'results'],
    ['backtestResult', { job_id: 'j', processing_time_seconds: -1 }, 'processing_time_seconds'],
    ['health', { status: 'ok', metrics: 'fine' }, 'metrics'],
    ['health', { status: 'ok', timestamp: 'noon' }, 'timestamp'],
    ['health', { test: 'health_check', timestamp: 1795834902.18 }, 'status is required'],
    ['health', { status: null }, 'status is required'],
    ['health', { status: '  ' }, 'status must not be blank'],
    ['health', { status: 3 }, 'status must be a string'],
    ['backtestResult', { job_id: 'j', completed_at: 'done' }, 'completed_at'],
    ['backtestResult', { job_id: 'j', timestamp: 'now', completed_at: 1795834918.5 }, 'timestamp'],
  ] as const)('%s %j is rejected naming %s', (kind, message, word) => {
    expect(rejection(kind, message)).toContain(word);
  });

  it('dates a backtest result by timestamp, else completed_at, else the time received', () => {
    const at = (message: object) => (accepted('backtestResult', { job_id: 'j', ...message }) as BacktestResultEvent).at;
    expect(at({ timestamp: 1764167400, completed_at: 1764167000 })).toBe('2025-11-26T14:30:00.000Z');
    expect(at({ completed_at: 1764167400.5 })).toBe('2025-11-26T14:30:00.500Z');
    expect(at({ completed_at: '2025-11-26T14:30:00Z', timestamp: null })).toBe('2025-11-26T14:30:00.000Z');
    expect(at({})).toBe(receivedAt.toISOString());
  });

  it('uses the publisher id when a backtest message carries one', () => {
    expect(accepted('backtestResult', { job_id: 'j', event_id: 'r-1' }).eventId).toBe('r-1');
  });
});

describe('parseTimestamp', () => {
  it.each([
    [1764167400, '2025-11-26T14:30:00.000Z'],
    [1764167400.123, '2025-11-26T14:30:00.123Z'],
    [1764167400123, '2025-11-26T14:30:00.123Z'],
    ['1764167400', '2025-11-26T14:30:00.000Z'],
    ['2025-11-26T14:15:00Z', '2025-11-26T14:15:00.000Z'],
    ['2025-11-26T14:15:00.123456', '2025-11-26T14:15:00.123Z'],
    ['2025-11-26T14:15:00.9996Z', '2025-11-26T14:15:01.000Z'],
    ['1764167400.1236', '2025-11-26T14:30:00.124Z'],
    ['2025-11-26T16:15:00+02:00', '2025-11-26T14:15:00.000Z'],
    ['2025-11-26 09:15:00-0500', '2025-11-26T14:15:00.000Z'],
    ['2025-11-26', '2025-11-26T00:00:00.000Z'],
  ])('%j is %s', (value, iso) => {
    expect(parseTimestamp(value)?.toISOString()).toBe(iso);
  });

  it.each([
    'yesterday-ish',
    'November 26, 2025',
    '2025-02-30T00:00:00Z',
    '2025-11-26T24:00:00Z',
    '0070-01-01',
    '',
    -1,
    1e20,
    true,
    null,
    {},
  ])('%j is not a timestamp', (value) => {
    expect(parseTimestamp(value)).toBeNull();
  });
});
