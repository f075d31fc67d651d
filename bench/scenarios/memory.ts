/**
 * Memory: a fresh API process per run (its own port; a pub/sub prefix nobody publishes on, so its
 * subscribers stay idle), VmRSS before, then N graphql-ws clients each holding one patternAlert
 * subscription, VmRSS after once the API counts them all.
 */
import { openSubscribers } from '../lib/load.js';
import { authHeaders } from '../lib/credential.js';
import { residentMb } from '../lib/processes.js';
import { round, sleep, waitUntil } from '../lib/util.js';
import { aggregateRuns, atMost, rowsFor } from './aggregate.js';
import type { BenchContext, MetricDef, ScenarioReport } from './types.js';

export interface MemoryOptions {
  subscribers: number;
  limitMb: number;
}

async function subscriberCount(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query: '{ systemHealth { pipeline { subscribers } } }' }),
  });
  const body = (await res.json()) as { data?: { systemHealth: { pipeline: { subscribers: number } } } };
  return body.data?.systemHealth.pipeline.subscribers ?? -1;
}

export async function memory(ctx: BenchContext, o: MemoryOptions): Promise<ScenarioReport> {
  const runs: Record<string, unknown>[] = [];
  const flat: Record<string, number | null>[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    // Run 1 uses the API started idle with the others; later runs start a fresh one.
    const api = ctx.pw.takeSpareApi() ?? (await ctx.pw.startExtraApi(`patternwire api (memory run ${run})`));
    try {
      // Let start-up settle (JIT, first GC) and answer one request, as any running server has.
      await subscriberCount(api.httpUrl);
      await sleep(1_000);
      const before = residentMb(api.child.pid);
      const started = performance.now();
      const subs = await openSubscribers(
        [api.wsUrl],
        Array.from({ length: o.subscribers }, () => null),
        () => undefined,
        200,
      );
      try {
        await waitUntil(
          async () => (await subscriberCount(api.httpUrl)) >= o.subscribers,
          120_000,
          `${o.subscribers} subscribers counted by the API`,
          250,
        );
        const connectMs = performance.now() - started;
        await sleep(1_500);
        const after = residentMb(api.child.pid);
        const summary = {
          run,
          subscribers: o.subscribers,
          rssBeforeMb: round(before.rss, 1),
          rssAfterMb: round(after.rss, 1),
          peakMb: round(after.hwm, 1),
          kbPerSubscriber: round(((after.rss - before.rss) * 1024) / o.subscribers, 1),
          connectSeconds: round(connectMs / 1000, 2),
          errors: subs.errors,
          disconnects: subs.disconnects,
        };
        ctx.log(
          `  memory run ${run}: RSS ${summary.rssBeforeMb} MB → ${summary.rssAfterMb} MB with ${o.subscribers} subscribers (${summary.kbPerSubscriber} KB each, peak ${summary.peakMb} MB, connected in ${summary.connectSeconds} s)`,
        );
        runs.push(summary);
        flat.push({
          before: summary.rssBeforeMb,
          after: summary.rssAfterMb,
          peak: summary.peakMb,
          perSub: summary.kbPerSubscriber,
          connect: summary.connectSeconds,
          errors: subs.errors.length + subs.disconnects,
        });
      } finally {
        await subs.dispose();
      }
    } finally {
      await api.child.stop(5_000);
    }
  }
  const defs: MetricDef[] = [
    { key: 'before', label: 'API RSS before (idle)', unit: 'MB', pwOnly: true },
    {
      key: 'after',
      label: `API RSS with ${o.subscribers} subscribers`,
      unit: 'MB',
      target: `≤ ${o.limitMb} MB`,
      check: atMost(o.limitMb),
      pwOnly: true,
    },
    { key: 'peak', label: 'API peak RSS (VmHWM)', unit: 'MB', pwOnly: true },
    { key: 'perSub', label: 'per subscriber', unit: 'KB', pwOnly: true },
    { key: 'connect', label: `time to connect + subscribe ${o.subscribers}`, unit: 's', pwOnly: true },
    { key: 'errors', label: 'disconnects + errors', unit: '', agg: 'sum', target: '0', check: (v) => v === 0, pwOnly: true },
  ];
  const aggregated = aggregateRuns(defs, { patternwire: flat, baseline: [] });
  return {
    scenario: 'memory',
    params: { ...o },
    runs,
    aggregated,
    rows: rowsFor('memory', defs, aggregated, ctx.runs),
    notes: [
      'a fresh API process per run (its own pub/sub prefix: the subscribers stay idle), run under tsx as the other children (the tsx loader adds tens of MB to an idle API); RSS = VmRSS from /proc/<pid>/status, 1.5 s after the API counts every subscriber',
    ],
  };
}
