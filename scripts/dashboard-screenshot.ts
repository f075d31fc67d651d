/**
 * docs/dashboard.png: the dashboard in headless chromium against the real system (in this
 * process, with its own test database, as the tests run it) with an hour of realistic history,
 * live alerts arriving, two backtests and notifications on.
 *
 *   npx tsx scripts/dashboard-screenshot.ts [out.png] [--narrow] [--light] [--width=1440]
 *
 * Needs Redis, PostgreSQL and chromium, like the tests. The history is written straight into
 * `pattern_detections` (received over the last hour, so the alerts-per-minute chart has
 * something to show) and the publication cursor moved past it; the live alerts, backtests and
 * health report go through Redis and the real ingest.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { priorityFor } from '../src/domain/classify.js';
import type { WatchlistFilter } from '../src/schema/db.js';
import { launchChromium } from '../test/utils/browser.js';
import { createTestUser } from '../test/utils/auth.js';
import { ensureDashboardBuild } from '../test/utils/dashboard.js';
import { createDisposers, createTestEnv, REDIS_URL } from '../test/utils/env.js';
import { startTestSystem } from '../test/utils/system.js';
import { waitFor } from '../test/utils/wait.js';

const out = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'docs/dashboard.png';
const narrow = process.argv.includes('--narrow');
const light = process.argv.includes('--light');
const width = Number(/--width=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 1440);

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN', 'GOOGL', 'META', 'AMD', 'NFLX', 'JPM', 'AVGO', 'COST', 'CRM', 'PLTR'];
const MORE = ['ORCL', 'ADBE', 'QCOM', 'SPY', 'QQQ', 'IWM', 'BA', 'DIS', 'SHOP', 'UBER', 'COIN', 'XOM', 'V', 'INTC'];
const PATTERNS = {
  daily: ['BreakoutBO', 'Doji', 'Hammer', 'BullishEngulfing', 'BearishEngulfing', 'GoldenCross', 'CupAndHandle', 'DoubleBottom'],
  intraday: ['VWAPReclaim', 'OpeningRangeBreakout', 'VolumeSpike', 'DivergenceDO', 'RSIOversoldBounce', 'MomentumSurge'],
  combo: ['ComboBreakoutVolume', 'ComboTrendMomentum', 'ComboReversalConfirm'],
} as const;
type TierWord = keyof typeof PATTERNS;
const TIMEFRAMES: Record<TierWord, string | null> = { daily: '1d', intraday: '5m', combo: null };

/** Deterministic pseudo-random numbers, so the picture is the same on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}
const rnd = random(7);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
/** Mostly 0.6–0.9, a tail above 0.9. */
const confidence = () => Math.round(Math.min(0.99, 0.58 + rnd() * 0.3 + (rnd() < 0.2 ? 0.12 : 0)) * 100) / 100;
const tierWord = (): TierWord => (rnd() < 0.45 ? 'daily' : rnd() < 0.75 ? 'intraday' : 'combo');

const NO_FILTER: WatchlistFilter = { symbols: null, patterns: null, tiers: null, minConfidence: null, minPriority: null };

const disposers = createDisposers();
try {
  ensureDashboardBuild();
  const t = await createTestEnv(disposers, 'shot', { AUTH_MODE: 'required', LOG_LEVEL: 'error' });
  const system = await startTestSystem(disposers, t.config);
  const databaseUrl = t.env['DATABASE_URL']!;
  const user = await createTestUser(databaseUrl, 'maria', 'READER');

  // An hour of history: a busier stretch mid-hour, quieter before.
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  disposers.add(() => db.end());
  const now = Date.now();
  const rows: unknown[][] = [];
  for (let minute = 60; minute >= 1; minute--) {
    const busy = minute < 40 && minute > 22 ? 9 : minute < 8 ? 6 : 3;
    const n = Math.round(busy + rnd() * busy);
    for (let i = 0; i < n; i++) {
      const receivedAt = now - minute * 60_000 + rnd() * 60_000;
      const tier = tierWord();
      const c = confidence();
      rows.push([
        `shot-${rows.length}`,
        pick(rnd() < 0.75 ? SYMBOLS : MORE),
        pick(PATTERNS[tier]),
        c,
        tier.toUpperCase(),
        priorityFor(c),
        TIMEFRAMES[tier],
        new Date(receivedAt - 200 - rnd() * 1500),
        new Date(receivedAt),
      ]);
    }
  }
  rows.sort((a, b) => (a[8] as Date).getTime() - (b[8] as Date).getTime());
  const values = rows.map((_, r) => `(${Array.from({ length: 9 }, (_, c) => `$${r * 9 + c + 1}`).join(', ')}, 'TickStockPL')`);
  await db.query(
    `INSERT INTO pattern_detections (event_id, symbol, pattern, confidence, tier, priority, timeframe, detected_at, received_at, source)
     VALUES ${values.join(', ')}`,
    rows.flat(),
  );
  // Loaded straight into the table: move the publication cursor past it (README, Database).
  await db.query('UPDATE publication_cursor SET last_published_id = (SELECT max(id) FROM pattern_detections)');
  await db.query(`INSERT INTO watchlists (user_id, name, filter) VALUES ($1, 'Mega caps', $2), ($1, 'Semis, HIGH+', $3)`, [
    user.userId,
    JSON.stringify({ ...NO_FILTER, symbols: ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META'] }),
    JSON.stringify({ ...NO_FILTER, symbols: ['NVDA', 'AMD', 'AVGO', 'QCOM', 'INTC'], minPriority: 'HIGH' }),
  ]);

  const browser = await launchChromium();
  disposers.add(() => browser.close());
  const origin = system.httpUrl;
  const context = await browser.newContext({
    viewport: narrow ? { width: 760, height: 1100 } : { width, height: 860 },
    colorScheme: light ? 'light' : 'dark',
  });
  await context.grantPermissions(['notifications'], { origin });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`page ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${origin}/#token=${user.token}`);
  await page.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Enable notifications' }).click();

  const publisher = new Redis(REDIS_URL);
  disposers.add(() => void publisher.disconnect());
  const { channels } = t.config;
  const unix = () => Date.now() / 1000;
  await publisher.publish(channels.health, JSON.stringify({ status: 'healthy', source: 'TickStockPL', timestamp: unix() }));
  await publisher.publish(
    channels.backtestProgress,
    JSON.stringify({
      job_id: 'bt-2291 momentum/1y',
      progress: 1,
      status: 'completed',
      processed_symbols: 500,
      timestamp: unix() - 40,
    }),
  );
  await publisher.publish(
    channels.backtestResults,
    JSON.stringify({
      job_id: 'bt-2291 momentum/1y',
      status: 'completed',
      results: { win_rate: 0.634, total_trades: 1482, roi: 0.187, sharpe_ratio: 1.62, max_drawdown: 0.071 },
      processing_time_seconds: 312.4,
      timestamp: unix() - 38,
    }),
  );
  await publisher.publish(
    channels.backtestProgress,
    JSON.stringify({
      job_id: 'bt-2292 breakout/6m',
      progress: 0.62,
      status: 'running',
      current_symbol: 'NVDA',
      processed_symbols: 310,
      estimated_completion: unix() + 95,
      timestamp: unix(),
    }),
  );
  // Live alerts, a few seconds apart, so the top rows are fresh and latency has samples.
  const live: [string, string, number, TierWord][] = [
    ['AMD', 'VolumeSpike', 0.81, 'intraday'],
    ['AAPL', 'BreakoutBO', 0.93, 'daily'],
    ['PLTR', 'ComboTrendMomentum', 0.88, 'combo'],
    ['NVDA', 'OpeningRangeBreakout', 0.95, 'intraday'],
    ['META', 'BullishEngulfing', 0.74, 'daily'],
    ['TSLA', 'ComboBreakoutVolume', 0.91, 'combo'],
  ];
  for (const [i, [symbol, pattern, c, tier]] of live.entries()) {
    await publisher.publish(
      channels.patterns,
      JSON.stringify({
        event_id: `shot-live-${i}`,
        symbol,
        pattern,
        confidence: c,
        tier,
        timeframe: TIMEFRAMES[tier],
        source: 'TickStockPL',
        timestamp: unix(),
      }),
    );
    await page.locator(`tr[data-id]`, { hasText: pattern }).first().waitFor({ timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 400));
  }
  await waitFor(async () => (await page.locator('[data-testid="latency"]').innerText()).includes('p95'), { what: 'latency' });
  await page.locator('.job progress').first().waitFor();
  // Let the newest row's highlight fade halfway: fresh, not flashing.
  await new Promise((r) => setTimeout(r, 1_200));
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (${rows.length} rows of history)`);
} finally {
  await disposers.run();
}
