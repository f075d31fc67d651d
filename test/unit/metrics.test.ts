import { parse } from 'graphql';
import { Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { rootField } from '../../src/api/api-metrics.js';
import { LatencyHistogram } from '../../src/metrics/metrics.js';
import { parseMetrics, series } from '../utils/metrics.js';

describe('LatencyHistogram', () => {
  it('is written out as a Prometheus histogram: cumulative buckets, +Inf, sum and count', async () => {
    const h = new LatencyHistogram('t_latency_seconds', 'test', [0.01, 0.1, 1]);
    const registry = new Registry();
    registry.registerMetric(h as unknown as Metric);
    for (const v of [0.005, 0.01, 0.05, 0.5, 3]) h.observe(v);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE t_latency_seconds histogram');
    const s = parseMetrics(text).samples;
    expect(s.get(series('t_latency_seconds_bucket', { le: 0.01 }))).toBe(2); // 0.01 is in its bucket (le: ≤)
    expect(s.get(series('t_latency_seconds_bucket', { le: 0.1 }))).toBe(3);
    expect(s.get(series('t_latency_seconds_bucket', { le: 1 }))).toBe(4);
    expect(s.get(series('t_latency_seconds_bucket', { le: '+Inf' }))).toBe(5);
    expect(s.get('t_latency_seconds_count')).toBe(5);
    expect(s.get('t_latency_seconds_sum')).toBeCloseTo(3.565, 10);
    h.reset();
    expect(parseMetrics(await registry.metrics()).samples.get('t_latency_seconds_count')).toBe(0);
  });
});

describe('rootField', () => {
  it('names the subscription root field, through fragments, for the chosen operation', () => {
    expect(rootField(parse('subscription { patternAlert { id } }'))).toBe('patternAlert');
    expect(rootField(parse('subscription S { ... on Subscription { systemHealth { status } } }'), 'S')).toBe('systemHealth');
    expect(rootField(parse('subscription { ...F } fragment F on Subscription { backtestProgress { jobId } }'))).toBe(
      'backtestProgress',
    );
    const two = parse('subscription A { patternAlert { id } } subscription B { systemHealth { status } }');
    expect(rootField(two, 'B')).toBe('systemHealth');
    expect(rootField(two)).toBeNull(); // which one is ambiguous without a name
  });
});
