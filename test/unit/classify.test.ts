import { describe, expect, it } from 'vitest';
import { classifyDetection, priorityFor, tierOfTimeframe } from '../../src/domain/classify.js';

const base = { tierHint: null, sourceHint: null, timeframe: null, category: null, pattern: 'Breakout', confidence: 0.5 };

describe('classifyDetection: tier rules, first match wins', () => {
  it.each([
    ['daily', 'DAILY'],
    ['INTRADAY', 'INTRADAY'],
    [' Combo ', 'COMBO'],
  ] as const)('explicit tier %j is %s and wins over every other rule', (tierHint, tier) => {
    const e = { ...base, tierHint, timeframe: '1m', category: 'combo', pattern: 'MomentumCombo' };
    expect(classifyDetection(e)).toMatchObject({ tier, unrecognisedTier: null });
  });

  it.each([
    ['daily', 'DAILY'],
    ['Intraday', 'INTRADAY'],
    ['COMBO', 'COMBO'],
    [' hourly ', 'INTRADAY'],
  ] as const)("rule 1b: the detection's own source %j is %s, over timeframe, category and name", (sourceHint, tier) => {
    const e = { ...base, sourceHint, timeframe: tier === 'DAILY' ? '5m' : '1d', category: 'combo', pattern: 'ScalpX' };
    expect(classifyDetection(e)).toMatchObject({ tier, unrecognisedTier: null });
  });

  it('rule 1 comes before rule 1b', () => {
    expect(classifyDetection({ ...base, tierHint: 'combo', sourceHint: 'daily' }).tier).toBe('COMBO');
  });

  it.each(['TickStockPL', 'weekly', 'fallback', 'test', 'constructor'])(
    'a source %j that is no tier word decides nothing',
    (sourceHint) => {
      expect(classifyDetection({ ...base, sourceHint, timeframe: '5m' }).tier).toBe('INTRADAY');
      expect(classifyDetection({ ...base, sourceHint }).tier).toBe('DAILY');
    },
  );

  it('an unrecognised explicit tier is still noted when rule 1b decides', () => {
    expect(classifyDetection({ ...base, tierHint: 'hourly', sourceHint: 'hourly' })).toMatchObject({
      tier: 'INTRADAY',
      unrecognisedTier: 'hourly',
    });
  });

  it.each(['1m', '5min', '15m', '30min', '1h', '4h', '60m', 'hourly', '1hr', '2hours', 'minute', '1 Min', '30s'])(
    'timeframe %j is INTRADAY',
    (timeframe) => {
      expect(classifyDetection({ ...base, timeframe, category: 'combo' }).tier).toBe('INTRADAY');
    },
  );

  it.each(['1d', 'daily', 'day', 'D', '1w', 'weekly', '1wk', '1mo', 'monthly', '1mth', '1y', 'yearly', 'quarterly'])(
    'timeframe %j is DAILY',
    (timeframe) => {
      expect(classifyDetection({ ...base, timeframe, pattern: 'ScalpCombo' }).tier).toBe('DAILY');
    },
  );

  it('reads 1mo as a month and 1m as a minute', () => {
    expect(tierOfTimeframe('1mo')).toBe('DAILY');
    expect(tierOfTimeframe('1m')).toBe('INTRADAY');
  });

  it('reads a capital 1M as a month, the exchange convention', () => {
    expect(tierOfTimeframe('1M')).toBe('DAILY');
  });

  it.each(['60', 'tick', '1fortnight', '0m', ''])('unknown timeframe %j decides nothing and falls through', (timeframe) => {
    expect(tierOfTimeframe(timeframe)).toBeNull();
    expect(classifyDetection({ ...base, timeframe, pattern: 'MomentumBurst' }).tier).toBe('INTRADAY');
  });

  it('category combo, or combo in the name, is COMBO', () => {
    expect(classifyDetection({ ...base, category: ' Combo' }).tier).toBe('COMBO');
    expect(classifyDetection({ ...base, pattern: 'TripleCOMBOSignal' }).tier).toBe('COMBO');
    expect(classifyDetection({ ...base, pattern: 'MomentumCombo' }).tier).toBe('COMBO');
  });

  it.each(['IntradayReversal', 'ScalpFlag', 'MomentumBurst'])('name %j is INTRADAY', (pattern) => {
    expect(classifyDetection({ ...base, pattern }).tier).toBe('INTRADAY');
  });

  it('is DAILY otherwise', () => {
    expect(classifyDetection({ ...base, category: 'reversal' }).tier).toBe('DAILY');
  });
});

describe('classifyDetection: unrecognised tier', () => {
  it('notes an explicit tier it does not know, as sent, and lets the rules decide', () => {
    expect(classifyDetection({ ...base, tierHint: 'Yearly', pattern: 'ScalpFlag' })).toEqual({
      tier: 'INTRADAY',
      priority: 'LOW',
      unrecognisedTier: 'Yearly',
    });
  });

  it('does not mistake a prototype member for a tier', () => {
    expect(classifyDetection({ ...base, tierHint: 'constructor' })).toMatchObject({
      tier: 'DAILY',
      unrecognisedTier: 'constructor',
    });
  });

  it('notes nothing when no tier, or a blank one, was sent', () => {
    expect(classifyDetection(base).unrecognisedTier).toBeNull();
    expect(classifyDetection({ ...base, tierHint: '  ' }).unrecognisedTier).toBeNull();
  });
});

describe('priorityFor', () => {
  it.each([
    [1, 'CRITICAL'],
    [0.9, 'CRITICAL'],
    [0.8999, 'HIGH'],
    [0.8, 'HIGH'],
    [0.7999, 'MEDIUM'],
    [0.7, 'MEDIUM'],
    [0.6999, 'LOW'],
    [0, 'LOW'],
  ] as const)('%d is %s', (confidence, priority) => {
    expect(priorityFor(confidence)).toBe(priority);
    expect(classifyDetection({ ...base, confidence }).priority).toBe(priority);
  });
});
