/**
 * The dashboard's own figures against `npm run demo`: starts the built system as `npm start`
 * does (`node dist/cli.js all`, embedded PGlite in a temporary DATA_DIR, channels and prefixes of
 * its own so nothing else on this Redis hears it), opens the printed `Dashboard:` URL in headless
 * chromium with notifications enabled, runs `node dist/cli.js demo`, and prints for each of the
 * demo's detections the time from publish to its row in the page and to its notification, and
 * the latency the page shows itself.
 *
 *   npm run build && npx tsx scripts/dashboard-demo-timing.ts [runs]
 *
 * The demo publishes its three detections right after reading the clock it stamps them with
 * (`timestamp`, which becomes `detectedAt`), so "publish" here is `detectedAt`: a millisecond or
 * two before the PUBLISH really left, which makes the figures slightly pessimistic. Both clocks
 * are this machine's.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launchChromium } from '../test/utils/browser.js';
import { PROJECT_ROOT } from '../test/utils/processes.js';
import { deleteRedisKeys, freePort } from '../test/utils/resources.js';

interface Shown {
  id: string;
  symbol: string;
  priority: string;
  detectedAt: string;
  shownAt: number;
}

declare global {
  interface Window {
    __shown?: Shown[];
    __notified?: { tag: string | null; at: number }[];
  }
}

const runs = Number(process.argv[2] ?? 3);
const id = randomBytes(4).toString('hex');
const dataDir = await mkdtemp(path.join(tmpdir(), 'pw-demo-timing-'));
const port = await freePort();
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const env: NodeJS.ProcessEnv = {
  ...process.env,
  DATA_DIR: dataDir,
  PORT: String(port),
  HOST: '127.0.0.1',
  AUTH_MODE: 'required',
  QUEUE_PREFIX: `{pwdemo-${id}}`,
  PUBSUB_PREFIX: `pwdemo-${id}`,
  CHANNEL_PATTERNS: `pwdemo-${id}.patterns`,
  CHANNEL_BACKTEST_PROGRESS: `pwdemo-${id}.backtest.progress`,
  CHANNEL_BACKTEST_RESULTS: `pwdemo-${id}.backtest.results`,
  CHANNEL_HEALTH: `pwdemo-${id}.health`,
  LOG_LEVEL: 'warn',
};
delete env['DATABASE_URL'];

function run(args: string[]): { done: Promise<string>; stdout: () => string; kill: () => void } {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return {
    done: new Promise((resolve) => child.once('close', () => resolve(out))),
    stdout: () => out,
    kill: () => child.kill('SIGTERM'),
  };
}

const all = run(['all']);
try {
  const deadline = Date.now() + 60_000;
  let dashboard: string | undefined;
  while (!(dashboard = /^Dashboard: (\S+)$/m.exec(all.stdout())?.[1])) {
    if (Date.now() > deadline) throw new Error(`no Dashboard: line from npm start within 60 s:\n${all.stdout()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.grantPermissions(['notifications'], { origin: `http://127.0.0.1:${port}` });
    // Every row as it enters the DOM, and every notification, with this clock.
    await context.addInitScript(() => {
      window.__shown = [];
      window.__notified = [];
      const Original = window.Notification;
      window.Notification = class extends Original {
        constructor(title: string, options?: NotificationOptions) {
          window.__notified!.push({ tag: options?.tag ?? null, at: Date.now() });
          super(title, options);
        }
      };
      new MutationObserver((records) => {
        const at = Date.now();
        for (const r of records)
          for (const node of r.addedNodes) {
            if (!(node instanceof HTMLTableRowElement) || !node.dataset['id']) continue;
            const [detected] = /detected (\S+)/.exec(node.title)?.slice(1) ?? [];
            window.__shown!.push({
              id: node.dataset['id'],
              symbol: node.querySelector('.symbol')?.textContent ?? '',
              priority: node.dataset['priority'] ?? '',
              detectedAt: detected ?? '',
              shownAt: at,
            });
          }
      }).observe(document, { childList: true, subtree: true });
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/404/.test(m.text())) errors.push(m.text());
    });
    await page.goto(dashboard.replace('localhost', '127.0.0.1'));
    await page.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Enable notifications' }).click();
    await page.getByRole('button', { name: 'Notifications on' }).waitFor();

    const rowsMs: number[] = [];
    const notifyMs: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const shownBefore = (await page.evaluate(() => window.__shown!.length)) ?? 0;
      const demo = await run(['demo']).done;
      const summary = demo.trim().split('\n').pop();
      await page.waitForFunction((n) => window.__shown!.length >= n + 3, shownBefore, { timeout: 10_000 });
      const shown = (await page.evaluate(() => window.__shown!)).slice(shownBefore);
      const notified = await page.evaluate(() => window.__notified!);
      console.log(`run ${i}: demo says "${summary}"; its own subscriber, publish → arrival:`);
      for (const line of demo.split('\n').filter((l) => /✓ \w+ \w+ (daily|intraday|combo)/.test(l)))
        console.log(`   ${line.trim()}`);
      for (const s of shown) {
        const published = Date.parse(s.detectedAt);
        const n = notified.find((x) => x.tag === s.id);
        rowsMs.push(s.shownAt - published);
        if (n) notifyMs.push(n.at - published);
        console.log(
          `  ${s.symbol.padEnd(6)} ${s.priority.padEnd(8)} publish → row ${String(s.shownAt - published).padStart(4)} ms` +
            (n ? `, → notification ${String(n.at - published).padStart(4)} ms` : ''),
        );
      }
      console.log(
        `  the page's own latency (receivedAt → row): ${(await page.locator('[data-testid="latency"]').innerText()).replace(/\s+/g, ' ')}`,
      );
    }
    const notifiedTags = (await page.evaluate(() => window.__notified!)).map((n) => n.tag);
    const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
    const median = (v: number[]) => sorted(v)[Math.floor((v.length - 1) / 2)];
    console.log(
      `publish → row: median ${median(rowsMs)} ms, max ${Math.max(...rowsMs)} ms (${rowsMs.length}); ` +
        `publish → notification: median ${median(notifyMs)} ms, max ${Math.max(...notifyMs)} ms (${notifyMs.length}); ` +
        `notifications ${notifiedTags.length} for ${new Set(notifiedTags).size} detections; console errors ${errors.length}`,
    );
  } finally {
    await browser.close();
  }
} finally {
  all.kill();
  await all.done;
  await rm(dataDir, { recursive: true, force: true });
  await deleteRedisKeys(redisUrl, `{pwdemo-${id}}*`);
}
