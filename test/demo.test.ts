import { afterAll, describe, expect, it } from 'vitest';
import { createDisposers, createTestEnv } from './utils/env.js';
import { childEnv, spawnPatternwire } from './utils/processes.js';
import { startTestSystem } from './utils/system.js';

const disposers = createDisposers();
afterAll(() => disposers.run());

describe('npm run demo (patternwire demo)', () => {
  it('makes its own token, sees all eight messages arrive on graphql-ws and exits 0', async () => {
    // Authentication on, as deployed: the demo signs in with a token it makes for the run.
    const t = await createTestEnv(disposers, 'demo', { AUTH_MODE: 'required' });
    const system = await startTestSystem(disposers, t.config);
    const demo = spawnPatternwire(disposers, 'demo', childEnv(t.env, { DEMO_API_URL: system.wsUrl }));
    const exit = await demo.exit();
    expect(exit.code, demo.output()).toBe(0);
    const out = demo.output();
    for (const line of ['BreakoutBO AAPL daily 0.95', 'DivergenceDO GOOGL intraday 0.87', 'ComboPattern TSLA combo 0.92']) {
      expect(out).toMatch(new RegExp(`✓ ${line}.*\\d+\\.\\d ms`));
    }
    expect(out).toMatch(/✓ BreakoutBO AAPL daily 0\.95\s+id \d+ DAILY CRITICAL/);
    expect(out).toMatch(/✓ DivergenceDO GOOGL intraday 0\.87\s+id \d+ INTRADAY HIGH/);
    expect(out).toMatch(/✓ ComboPattern TSLA combo 0\.92\s+id \d+ COMBO CRITICAL/);
    expect(out.match(/✓ backtest .* (processing|completed)/g)).toHaveLength(4);
    expect(out).toContain('All 8 arrived.');
    expect(out).toContain('credential: a token of user demo, made for this run');
  });

  it('exits non-zero, naming what did not arrive, when nothing processes the messages', async () => {
    const t = await createTestEnv(disposers, 'demo-noworker');
    // An API but no ingest and no worker: published messages go nowhere.
    const system = await startTestSystem(disposers, t.config, { api: true, migrate: true });
    const demo = spawnPatternwire(disposers, 'demo', childEnv(t.env, { DEMO_API_URL: system.wsUrl }));
    const exit = await demo.exit();
    expect(exit.code, demo.output()).toBe(1);
    expect(demo.output()).toMatch(/✗ BreakoutBO AAPL daily 0\.95: nothing within 2000 ms/);
    expect(demo.output()).toContain('8 of 8 did not arrive.');
  });
});
