import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyDetection } from '../../src/domain/classify.js';
import type { ChannelKind, Priority, Tier } from '../../src/schema/events.js';
import { parseInbound } from '../../src/domain/inbound.js';
import { FIXTURES_DIR } from '../utils/fixtures.js';

/**
 * Conformance: the 102 messages the real publisher sent, each through the real parser and
 * classifier, against the verdict contract §1 gives it. The table below was derived by reading
 * each message against the contract, not by recording what the code printed.
 */

interface Line {
  section: string;
  channel: string;
  payload: string;
}

const lines = readFileSync(new URL('tickstock-real.jsonl', FIXTURES_DIR), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Line);

// The contract's default channel names.
const KIND_OF_CHANNEL: Record<string, ChannelKind> = {
  'tickstock.events.patterns': 'pattern',
  'tickstock.events.backtesting.progress': 'backtestProgress',
  'tickstock.events.backtesting.results': 'backtestResult',
  'tickstock.health.status': 'health',
};

type Verdict =
  | { verdict: 'detection'; tier: Tier; priority: Priority; symbol: string; pattern: string; unrecognisedTier: string | null }
  | { verdict: 'progress'; jobId: string; progress: number }
  | { verdict: 'result'; jobId: string; at: string }
  | { verdict: 'rejected'; reason: string };

const detection = (
  tier: Tier,
  priority: Priority,
  symbol: string,
  pattern: string,
  unrecognisedTier: string | null = null,
): Verdict => ({ verdict: 'detection', tier, priority, symbol, pattern, unrecognisedTier });
const progress = (jobId: string, value: number): Verdict => ({ verdict: 'progress', jobId, progress: value });
const result = (jobId: string, at: string): Verdict => ({ verdict: 'result', jobId, at });
/** `reason`: words the plain-language reason must contain. */
const rejected = (reason: string): Verdict => ({ verdict: 'rejected', reason });

// Priority: >= 0.9 CRITICAL, >= 0.8 HIGH, >= 0.7 MEDIUM, else LOW — applied to the number as
// sent: the load test's 0.7999999999999999 is below 0.8, so MEDIUM (lines 22, 32).
// prettier-ignore
const expected: Record<number, Verdict> = {
  // test_websocket_patterns.py: flat, an explicit tier on the detection (rule 1).
  1: detection('DAILY', 'CRITICAL', 'AAPL', 'BreakoutBO'),
  2: detection('INTRADAY', 'HIGH', 'GOOGL', 'DivergenceDO'),
  3: detection('COMBO', 'CRITICAL', 'TSLA', 'ComboPattern'),

  // test_pattern_flow_complete.py: data.data holds the detection, `tier` sits on the middle
  // wrapper (rule 1 looks outwards) and repeats as the detection's own `source` (rule 1b).
  4: detection('DAILY', 'HIGH', 'GOOGL', 'MACrossover'), // no tier, no timeframe: rule 5
  5: detection('DAILY', 'CRITICAL', 'TSLA', 'HeadShoulders'), // data.tier daily
  6: detection('INTRADAY', 'HIGH', 'AMD', 'MomentumShift', 'hourly'), // tier hourly unknown; source hourly, rule 1b
  7: detection('INTRADAY', 'MEDIUM', 'NVDA', 'VolumeSurge'), // data.tier intraday
  8: detection('DAILY', 'HIGH', 'SPY', 'TrendReversal', 'weekly'), // neither tier nor source a tier word: rule 5
  9: detection('DAILY', 'CRITICAL', 'QQQ', 'BreakoutPattern', 'monthly'),
  10: detection('DAILY', 'HIGH', 'AAPL', 'SupportBreakout', 'daily_intraday'), // not one of the words
  11: detection('DAILY', 'MEDIUM', 'MSFT', 'RSI_Oversold', 'indicators'),

  // test_pattern_flow_complete.py load test: no tier, source "LoadTest" on the outer wrapper
  // only, names without combo/intraday/scalp/momentum: DAILY; priority by confidence.
  12: detection('DAILY', 'MEDIUM', 'GOOGL', 'Pattern_0'), // 0.7
  13: detection('DAILY', 'MEDIUM', 'TSLA', 'Pattern_1'), // 0.71
  14: detection('DAILY', 'MEDIUM', 'NVDA', 'Pattern_2'), // 0.72
  15: detection('DAILY', 'MEDIUM', 'AAPL', 'Pattern_3'), // 0.73
  16: detection('DAILY', 'MEDIUM', 'MSFT', 'Pattern_4'), // 0.74
  17: detection('DAILY', 'MEDIUM', 'GOOGL', 'Pattern_5'), // 0.75
  18: detection('DAILY', 'MEDIUM', 'TSLA', 'Pattern_6'), // 0.76
  19: detection('DAILY', 'MEDIUM', 'NVDA', 'Pattern_7'), // 0.77
  20: detection('DAILY', 'MEDIUM', 'AAPL', 'Pattern_8'), // 0.7799999999999999
  21: detection('DAILY', 'MEDIUM', 'MSFT', 'Pattern_9'), // 0.7899999999999999
  22: detection('DAILY', 'MEDIUM', 'GOOGL', 'Pattern_10'), // 0.7999999999999999 < 0.8
  23: detection('DAILY', 'HIGH', 'TSLA', 'Pattern_11'), // 0.8099999999999999
  24: detection('DAILY', 'HIGH', 'NVDA', 'Pattern_0'), // 0.82
  25: detection('DAILY', 'HIGH', 'AAPL', 'Pattern_1'), // 0.83
  26: detection('DAILY', 'HIGH', 'MSFT', 'Pattern_2'), // 0.84
  27: detection('DAILY', 'HIGH', 'GOOGL', 'Pattern_3'), // 0.85
  28: detection('DAILY', 'HIGH', 'TSLA', 'Pattern_4'), // 0.86
  29: detection('DAILY', 'HIGH', 'NVDA', 'Pattern_5'), // 0.87
  30: detection('DAILY', 'HIGH', 'AAPL', 'Pattern_6'), // 0.8799999999999999
  31: detection('DAILY', 'HIGH', 'MSFT', 'Pattern_7'), // 0.8899999999999999
  32: detection('DAILY', 'HIGH', 'GOOGL', 'Pattern_8'), // 0.8999999999999999 < 0.9
  33: detection('DAILY', 'CRITICAL', 'TSLA', 'Pattern_9'), // 0.9099999999999999
  34: detection('DAILY', 'CRITICAL', 'NVDA', 'Pattern_10'), // 0.9199999999999999
  35: detection('DAILY', 'CRITICAL', 'AAPL', 'Pattern_11'), // 0.9299999999999999
  36: detection('DAILY', 'CRITICAL', 'MSFT', 'Pattern_0'), // 0.94
  37: detection('DAILY', 'CRITICAL', 'GOOGL', 'Pattern_1'), // 0.95
  38: detection('DAILY', 'CRITICAL', 'TSLA', 'Pattern_2'), // 0.96
  39: detection('DAILY', 'CRITICAL', 'NVDA', 'Pattern_3'), // 0.97
  40: detection('DAILY', 'CRITICAL', 'AAPL', 'Pattern_4'), // 0.98
  41: detection('DAILY', 'CRITICAL', 'MSFT', 'Pattern_5'), // 0.99
  42: detection('DAILY', 'MEDIUM', 'GOOGL', 'Pattern_6'), // 0.7
  43: detection('DAILY', 'MEDIUM', 'TSLA', 'Pattern_7'), // 0.71
  44: detection('DAILY', 'MEDIUM', 'NVDA', 'Pattern_8'), // 0.72
  45: detection('DAILY', 'MEDIUM', 'AAPL', 'Pattern_9'), // 0.73
  46: detection('DAILY', 'MEDIUM', 'MSFT', 'Pattern_10'), // 0.74
  47: detection('DAILY', 'MEDIUM', 'GOOGL', 'Pattern_11'), // 0.75
  48: detection('DAILY', 'MEDIUM', 'TSLA', 'Pattern_0'), // 0.76
  49: detection('DAILY', 'MEDIUM', 'NVDA', 'Pattern_1'), // 0.77
  50: detection('DAILY', 'MEDIUM', 'AAPL', 'Pattern_2'), // 0.7799999999999999
  51: detection('DAILY', 'MEDIUM', 'MSFT', 'Pattern_3'), // 0.7899999999999999

  // test_tickstockpl_integration.py: good detections under data or data.data (rule 5), then
  // the malformed ones it sends on purpose.
  52: detection('DAILY', 'CRITICAL', 'TEST', 'ConnectionTest'),
  53: detection('DAILY', 'HIGH', 'GOOGL', 'MACrossover'),
  54: detection('DAILY', 'CRITICAL', 'TSLA', 'HeadShoulders'), // named by pattern_name
  55: detection('DAILY', 'MEDIUM', 'FLOW', 'FlowTest'),
  56: rejected('symbol is required'), // {"test":"verification"}
  57: detection('DAILY', 'HIGH', 'DBT', 'DatabaseFlowTest'),
  58: detection('DAILY', 'CRITICAL', 'CACHE', 'CacheTestPattern'),
  59: rejected('not valid JSON'),
  60: rejected('symbol is required'), // {}
  61: rejected('symbol is required'), // only event_type
  62: rejected('symbol is required'), // a name, no symbol
  63: detection('DAILY', 'HIGH', 'RCVR', 'RecoveryTest'),

  // test_pattern_event_delivery.py: flat, the detection's own source is its tier (rule 1b).
  64: detection('DAILY', 'HIGH', 'AAPL', 'Doji'), // source daily
  65: detection('INTRADAY', 'MEDIUM', 'GOOGL', 'Hammer'), // source intraday
  66: detection('COMBO', 'CRITICAL', 'TSLA', 'Engulfing'), // source combo
  // source "test" is no tier word: rule 5.
  67: detection('DAILY', 'HIGH', 'PERF00', 'Performance_Test'), // 0.8
  68: detection('DAILY', 'HIGH', 'PERF01', 'Performance_Test'),
  69: detection('DAILY', 'HIGH', 'PERF02', 'Performance_Test'),
  70: detection('DAILY', 'HIGH', 'PERF03', 'Performance_Test'),
  71: detection('DAILY', 'HIGH', 'PERF04', 'Performance_Test'),
  72: detection('DAILY', 'HIGH', 'PERF05', 'Performance_Test'),
  73: detection('DAILY', 'HIGH', 'PERF06', 'Performance_Test'),
  74: detection('DAILY', 'HIGH', 'PERF07', 'Performance_Test'),
  75: detection('DAILY', 'HIGH', 'PERF08', 'Performance_Test'),
  76: detection('DAILY', 'HIGH', 'PERF09', 'Performance_Test'), // 0.89
  77: detection('DAILY', 'HIGH', 'BEFORE', 'Before_Loss'),
  // "_" is not among the symbol characters A-Z 0-9 . - / ^ =
  78: rejected('symbol must be 1 to 20 characters'), // AFTER_0
  79: rejected('symbol must be 1 to 20 characters'), // AFTER_1
  80: rejected('symbol must be 1 to 20 characters'), // AFTER_2

  // fallback_pattern_detector.py: under data, the detection's source "fallback" is no tier word.
  81: detection('DAILY', 'HIGH', 'AMD', 'Price_Gap'),

  // app.py /health probe: {"test":"health_check"} on every channel, rejected on each.
  82: rejected('symbol is required'),
  83: rejected('job_id is required'),
  84: rejected('job_id is required'),
  85: rejected('status is required'),

  // sprint14 MockTickStockPLProducer.
  86: progress('complete_workflow_001', 0.25),
  87: progress('complete_workflow_001', 0.5),
  88: progress('complete_workflow_001', 0.75),
  89: progress('complete_workflow_001', 1),
  90: rejected('symbol must be 1 to 20 characters'), // NEWTECH_ETF
  91: rejected('symbol must be 1 to 20 characters'), // COMPLETE_IPO
  92: progress('emergency_correlation_recalc', 0.4),
  93: progress('emergency_correlation_recalc', 0.8),
  94: progress('emergency_correlation_recalc', 1),
  95: rejected('symbol must be 1 to 20 characters'), // CRASH_STOCK
  96: rejected('symbol must be 1 to 20 characters'), // RECOVERY_STOCK
  97: rejected('symbol must be 1 to 20 characters'), // PATTERN_STOCK_0000
  98: rejected('symbol must be 1 to 20 characters'), // PATTERN_STOCK_0001
  99: rejected('symbol must be 1 to 20 characters'), // PATTERN_STOCK_0002
  100: result('complete_workflow_001', '2026-11-28T03:01:58.598Z'), // completed_at 1795834918.597917

  // tickstockpl_integration_requirements.md: tier on the detection itself, under data.
  101: detection('INTRADAY', 'HIGH', 'NVDA', 'Volume_Spike'),
  102: detection('DAILY', 'CRITICAL', 'MSFT', 'Price_Breakout', 'test'), // tier "test" unknown: rule 5
};

const receivedAt = new Date('2026-11-28T03:05:00.000Z');

function verdictOf({ channel, payload }: Line): Verdict {
  const kind = KIND_OF_CHANNEL[channel];
  if (!kind) throw new Error(`unknown channel ${channel}`);
  const parsed = parseInbound(kind, Buffer.from(payload, 'utf8'), receivedAt);
  if (!parsed.ok) return rejected(parsed.reason);
  const event = parsed.event;
  switch (event.kind) {
    case 'pattern': {
      const { tier, priority, unrecognisedTier } = classifyDetection(event);
      return detection(tier, priority, event.symbol, event.pattern, unrecognisedTier);
    }
    case 'backtestProgress':
      return progress(event.jobId, event.progress);
    case 'backtestResult':
      return result(event.jobId, event.at);
    case 'health':
      return { verdict: 'rejected', reason: `unexpected health report ${event.status}` };
  }
}

describe('fixtures/inbound/tickstock-real.jsonl against contract §1', () => {
  it('has a verdict for each of its 102 messages', () => {
    expect(lines).toHaveLength(102);
    expect(Object.keys(expected).map(Number)).toEqual(lines.map((_, i) => i + 1));
  });

  it.each(lines.map((line, i) => [i + 1, line.section, line] as const))('line %i (%s)', (n, _section, line) => {
    const want = expected[n]!;
    const got = verdictOf(line);
    if (want.verdict === 'rejected' && got.verdict === 'rejected') {
      expect(got.reason).toContain(want.reason);
    } else {
      expect(got).toEqual(want);
    }
  });

  it('adds up: 75 detections (68 daily, 5 intraday, 2 combo), 8 backtest messages, 19 rejects', () => {
    const verdicts = Object.values(expected);
    const count = (keep: (v: Verdict) => boolean) => verdicts.filter(keep).length;
    expect(count((v) => v.verdict === 'detection' && v.tier === 'DAILY')).toBe(68);
    expect(count((v) => v.verdict === 'detection' && v.tier === 'INTRADAY')).toBe(5);
    expect(count((v) => v.verdict === 'detection' && v.tier === 'COMBO')).toBe(2);
    expect(count((v) => v.verdict === 'progress' || v.verdict === 'result')).toBe(8);
    expect(count((v) => v.verdict === 'rejected')).toBe(19);
  });
});
