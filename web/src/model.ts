/**
 * Everything the dashboard shows, and the connections that feed it, apart from how it looks.
 * Components read `snapshot()` and re-render on `subscribe`; the rules live in ./logic/ as plain
 * functions.
 *
 * Panels: one query for the newest matching id (and the last hour's arrivals), then each tier's
 * newest 50, then one patternAlert subscription (src/client/alert-client.ts) with `after` set to
 * that id. Ids become visible in order, so every matching detection up to that id was in the
 * tier queries and every one after it comes through the subscription, which resumes with the
 * last id it delivered on every reconnect: nothing missed, and a row is keyed by id, so nothing
 * doubled. One WebSocket serves all three panels; a second carries backtests and health.
 */
import { createClient, type Client } from 'graphql-ws';
import { createAlertClient, type AlertClient, type AlertClientState } from '../../src/client/alert-client.js';
import { FORBIDDEN_CLOSE_CODE } from '../../src/client/resuming.js';
import { bearer } from '../../src/client/credential.js';
import { TIERS } from '../../src/schema/enums.js';
import { ApiError, type Graphql } from './api.js';
import { NO_FILTER, toPatternFilter, type FilterChoice } from './logic/filter.js';
import { LATENCY_WINDOW_MS, recentSamples, type LatencySample } from './logic/latency.js';
import { ArrivalLog } from './logic/rate.js';
import { mergeRows } from './logic/rows.js';
import { NotifiedIds, shouldNotify } from './logic/notify.js';
import { store } from './session.js';
import {
  ROW_FIELDS,
  type BacktestProgress,
  type BacktestResult,
  type PatternFilterInput,
  type Priority,
  type Row,
  type SystemHealth,
  type Tier,
  type Watchlist,
} from './types.js';

/** Rows each panel loads before going live (contract §8). */
export const INITIAL_ROWS = 50;
/** How far back the arrivals chart can be filled from one query (the `first` limit is 500). */
const ARRIVALS_PAGE = 500;
const HEALTH_POLL_MS = 15_000;
/** Backtests shown (and remembered across a reload), newest first. */
const MAX_BACKTESTS = 8;
const FEED_MAX_BACKOFF_MS = 5_000;
/**
 * Live rows are drawn at most this often: a display frame (a flood would otherwise redraw the
 * panels per message, and nothing is seen faster than the screen refreshes).
 */
const FLUSH_EVERY_MS = 16;
/** The latency figures are over the last minute's newest samples, at most this many. */
const MAX_LATENCY_SAMPLES = 5_000;

const KEYS = {
  filter: 'patternwire.dashboard.filter',
  notify: 'patternwire.dashboard.notify',
  notified: 'patternwire.dashboard.notified',
  backtests: 'patternwire.dashboard.backtests',
};

export interface PanelState {
  rows: readonly Row[];
  /** Ids that arrived through the subscription (drawn highlighted as they appear). */
  live: ReadonlySet<string>;
  loading: boolean;
}

export interface BacktestView {
  jobId: string;
  progress: BacktestProgress | null;
  result: BacktestResult | null;
}

export type NotificationState = 'unsupported' | 'off' | 'on' | 'denied' | 'failed';

export interface Snapshot {
  panels: Record<Tier, PanelState>;
  filter: FilterChoice;
  /** The server's answer to the filter when it refused it (BAD_USER_INPUT), or a load failure. */
  filterError: string | null;
  watchlists: readonly Watchlist[];
  /** The alerts' WebSocket, and when it stopped being live. */
  link: { state: AlertClientState; lostAt: number | null };
  latency: readonly LatencySample[];
  arrivals: ArrivalLog;
  backtests: readonly BacktestView[];
  health: SystemHealth | null;
  notifications: NotificationState;
}

export interface ModelOptions {
  token: string | null;
  gql: Graphql;
  /** The server refused the credential (revoked, expired): the page signs out. */
  onRefused(reason: string): void;
}

const PROGRESS_FIELDS = 'jobId progress status currentSymbol processedSymbols estimatedCompletion at';
const RESULT_FIELDS = 'jobId status results processingTimeSeconds at';
const HEALTH_QUERY = `systemHealth {
  publisher { status source at }
  pipeline { status queueWaiting queueFailed lastEventAt reasons }
}`;

/** How the filter is kept across a reload: a watchlist by id (it may have changed or gone since). */
type SavedFilter = { kind: 'watchlist'; id: string } | { kind: 'typed'; symbols: string[]; minPriority: Priority | null };

function emptyPanels(loading: boolean): Record<Tier, PanelState> {
  return Object.fromEntries(TIERS.map((t): [Tier, PanelState] => [t, { rows: [], live: new Set<string>(), loading }])) as Record<
    Tier,
    PanelState
  >;
}

function notificationState(): NotificationState {
  if (typeof Notification === 'undefined') return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  return Notification.permission === 'granted' && store.get(KEYS.notify) === 'on' ? 'on' : 'off';
}

function sameFilter(a: FilterChoice, b: FilterChoice): boolean {
  return JSON.stringify(toPatternFilter(a)) === JSON.stringify(toPatternFilter(b));
}

function isForbidden(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === FORBIDDEN_CLOSE_CODE;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (Array.isArray(err)) return err.map((e) => (e as { message?: string }).message ?? String(e)).join('; ');
  return String(err);
}

export class DashboardModel {
  private state: Snapshot;
  private readonly listeners = new Set<() => void>();
  private readonly wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  /** Bumped on every (re)load: answers and alerts of an older load are dropped. */
  private generation = 0;
  private alerts: AlertClient | null = null;
  private feed: Client | null = null;
  /** Ends the feed's subscriptions (before disposing it, see stop()). */
  private feedOff: (() => void)[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private healthTimer: ReturnType<typeof setInterval> | null = null;
  /** Alerts received and not yet merged into the panels (merged together, once per task). */
  private pending: Row[] = [];
  private flushScheduled = false;
  private lastFlush = 0;
  /** Live rows merged but not yet rendered: id → receivedAt. */
  private unshown = new Map<string, number>();
  private readonly notified = NotifiedIds.parse(store.get(KEYS.notified));
  private stopped = false;

  constructor(private readonly o: ModelOptions) {
    this.state = {
      panels: emptyPanels(true),
      filter: NO_FILTER,
      filterError: null,
      watchlists: [],
      link: { state: 'connecting', lostAt: null },
      latency: [],
      arrivals: new ArrivalLog(),
      backtests: [],
      health: null,
      notifications: notificationState(),
    };
  }

  snapshot(): Snapshot {
    return this.state;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(patch: Partial<Snapshot>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  async start(): Promise<void> {
    this.openFeed();
    void this.pollHealth();
    this.healthTimer = setInterval(() => void this.pollHealth(), HEALTH_POLL_MS);
    void this.restoreBacktests();
    const watchlists = await this.loadWatchlists();
    this.set({ filter: this.restoreFilter(watchlists) });
    await this.loadPanels();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.healthTimer) clearInterval(this.healthTimer);
    void this.alerts?.close();
    this.alerts = null;
    // Ended first: graphql-ws would otherwise send a queued subscribe on the socket dispose()
    // just closed, which the browser logs as an error.
    for (const off of this.feedOff) off();
    this.feedOff = [];
    void this.feed?.dispose();
    this.feed = null;
    this.listeners.clear();
  }

  // ── Filter and watchlists ──────────────────────────────────────────────────────────────

  private async loadWatchlists(): Promise<readonly Watchlist[]> {
    try {
      const { watchlists } = await this.o.gql<{ watchlists: Watchlist[] }>(
        '{ watchlists { id name filter { symbols patterns tiers minConfidence minPriority } } }',
      );
      this.set({ watchlists });
      return watchlists;
    } catch (err) {
      this.handleError(err);
      return [];
    }
  }

  private restoreFilter(watchlists: readonly Watchlist[]): FilterChoice {
    try {
      const saved = JSON.parse(store.get(KEYS.filter) ?? 'null') as SavedFilter | null;
      if (saved?.kind === 'watchlist') {
        const watchlist = watchlists.find((w) => w.id === saved.id);
        return watchlist ? { kind: 'watchlist', watchlist } : NO_FILTER;
      }
      if (saved?.kind === 'typed' && Array.isArray(saved.symbols)) {
        return {
          kind: 'typed',
          symbols: saved.symbols.filter((s) => typeof s === 'string'),
          minPriority: saved.minPriority ?? null,
        };
      }
    } catch {
      // A value this page did not write: start unfiltered.
    }
    return NO_FILTER;
  }

  /** Shows `choice`: the panels are loaded again and resubscribed, unless it filters the same. */
  async setFilter(choice: FilterChoice): Promise<void> {
    const reload = !sameFilter(choice, this.state.filter) || this.state.filterError !== null;
    const saved: SavedFilter =
      choice.kind === 'watchlist'
        ? { kind: 'watchlist', id: choice.watchlist.id }
        : { kind: 'typed', symbols: [...choice.symbols], minPriority: choice.minPriority };
    store.set(KEYS.filter, JSON.stringify(saved));
    this.set({ filter: choice });
    if (reload) await this.loadPanels();
  }

  /** Saves the filter shown as a new watchlist, and shows it as that watchlist. Resolves with the server's refusal, if any. */
  async saveWatchlist(name: string): Promise<string | null> {
    const filter: PatternFilterInput = toPatternFilter(this.state.filter) ?? {};
    try {
      const { createWatchlist } = await this.o.gql<{ createWatchlist: Watchlist }>(
        `mutation Save($input: WatchlistInput!) {
          createWatchlist(input: $input) { id name filter { symbols patterns tiers minConfidence minPriority } }
        }`,
        { input: { name, filter } },
      );
      this.set({ watchlists: [...this.state.watchlists, createWatchlist] });
      await this.setFilter({ kind: 'watchlist', watchlist: createWatchlist });
      return null;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') this.handleError(err);
      return message(err);
    }
  }

  // ── Panels ──────────────────────────────────────────────────────────────────────────────

  private async loadPanels(): Promise<void> {
    const generation = ++this.generation;
    const previous = this.alerts;
    this.alerts = null;
    void previous?.close();
    this.pending = [];
    this.unshown.clear();
    this.state.arrivals.clear();
    this.set({ panels: emptyPanels(true), filterError: null, link: { state: 'connecting', lostAt: this.state.link.lostAt } });
    const filter = toPatternFilter(this.state.filter);
    try {
      // First the newest matching id: everything up to it is in the tier queries that follow.
      const head = await this.o.gql<{
        patterns: { nodes: { id: string; receivedAt: string }[]; pageInfo: { hasNextPage: boolean } };
      }>(
        `query Head($filter: PatternFilter, $first: Int) {
          patterns(filter: $filter, first: $first) { nodes { id receivedAt } pageInfo { hasNextPage } }
        }`,
        { filter, first: ARRIVALS_PAGE },
      );
      if (generation !== this.generation) return;
      const nodes = head.patterns.nodes;
      // Oldest first: the log forgets in the order it was told (see ArrivalLog).
      for (const n of [...nodes].reverse()) this.state.arrivals.add(n.id, Date.parse(n.receivedAt));
      const oldest = nodes[nodes.length - 1];
      this.state.arrivals.knownSince = head.patterns.pageInfo.hasNextPage && oldest ? Date.parse(oldest.receivedAt) : null;
      const after = nodes[0]?.id ?? '0';

      const tiers = await this.o.gql<Record<'daily' | 'intraday' | 'combo', { nodes: Row[] }>>(
        `query Panels($filter: PatternFilter, $first: Int) {
          daily: dailyPatterns(filter: $filter, first: $first) { nodes { ${ROW_FIELDS} } }
          intraday: intradayPatterns(filter: $filter, first: $first) { nodes { ${ROW_FIELDS} } }
          combo: comboPatterns(filter: $filter, first: $first) { nodes { ${ROW_FIELDS} } }
        }`,
        { filter, first: INITIAL_ROWS },
      );
      if (generation !== this.generation) return;
      const panels = emptyPanels(false);
      panels.DAILY.rows = tiers.daily.nodes;
      panels.INTRADAY.rows = tiers.intraday.nodes;
      panels.COMBO.rows = tiers.combo.nodes;
      this.set({ panels });
      this.subscribeAlerts(generation, filter, after);
    } catch (err) {
      if (generation !== this.generation) return;
      if (err instanceof ApiError && err.code === 'BAD_USER_INPUT') {
        this.set({ panels: emptyPanels(false), filterError: err.message });
        return;
      }
      if (this.handleError(err)) return;
      // The server is away (restarting?): try again, as the live connection would.
      this.set({ filterError: `${message(err)}; trying again…` });
      this.later(() => void this.loadPanels(), 2_000);
    }
  }

  private subscribeAlerts(generation: number, filter: PatternFilterInput | null, after: string): void {
    const token = this.o.token;
    this.alerts = createAlertClient({
      url: this.wsUrl,
      credential: token ?? undefined,
      filter: filter ?? undefined,
      after,
      selection: ROW_FIELDS,
      backoff: { initialMs: 250, maxMs: FEED_MAX_BACKOFF_MS },
      onAlert: (alert) => {
        if (generation === this.generation) this.receive(alert as unknown as Row);
      },
      onStateChange: (state) => {
        if (generation !== this.generation) return;
        const lostAt = state === 'live' ? null : (this.state.link.lostAt ?? Date.now());
        this.set({ link: { state, lostAt } });
      },
      onError: (err) => {
        if (generation !== this.generation) return;
        if (isForbidden(err)) return this.o.onRefused('The server refused the token (revoked or expired?)');
        // A refused subscription: after an absence longer than the replay limit, `after` is too
        // old to replay (BAD_USER_INPUT); loading the panels afresh is the way back.
        this.set({ filterError: `Live alerts stopped: ${message(err)}; reloading…` });
        this.later(() => void this.loadPanels(), 1_000);
      },
    });
  }

  /** One live alert: counted and notified now (even in a background tab), shown with the next flush. */
  private receive(row: Row): void {
    const at = Date.parse(row.receivedAt);
    this.state.arrivals.add(row.id, at);
    this.notify(row);
    this.pending.push(row);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A replay delivers many alerts in one go: merge them together, in one render; and in a
    // flood, render at most every FLUSH_EVERY_MS.
    setTimeout(() => this.flush(), Math.max(0, this.lastFlush + FLUSH_EVERY_MS - Date.now()));
  }

  private flush(): void {
    this.flushScheduled = false;
    this.lastFlush = Date.now();
    this.state.arrivals.prune(this.lastFlush);
    if (this.stopped || this.pending.length === 0) return;
    const incoming = this.pending;
    this.pending = [];
    const panels = { ...this.state.panels };
    for (const tier of TIERS) {
      const mine = incoming.filter((r) => r.tier === tier);
      if (mine.length === 0) continue;
      const panel = panels[tier];
      const rows = mergeRows(panel.rows, mine);
      if (rows === panel.rows) continue;
      const kept = new Set(rows.map((r) => r.id));
      const live = new Set([...panel.live].filter((id) => kept.has(id)));
      for (const r of mine) {
        if (!kept.has(r.id) || panel.rows.some((p) => p.id === r.id)) continue;
        live.add(r.id);
        this.unshown.set(r.id, Date.parse(r.receivedAt));
      }
      panels[tier] = { ...panel, rows, live };
    }
    this.set({ panels });
  }

  /** Called after each render: the rows merged since are on the screen now. */
  rendered(now: number): void {
    if (this.unshown.size === 0) return;
    const samples = recentSamples(this.state.latency, now, LATENCY_WINDOW_MS);
    for (const receivedAt of this.unshown.values()) samples.push({ at: now, ms: Math.max(0, now - receivedAt) });
    this.unshown.clear();
    this.set({ latency: samples.slice(-MAX_LATENCY_SAMPLES) });
  }

  // ── Notifications ───────────────────────────────────────────────────────────────────────

  async enableNotifications(): Promise<void> {
    if (typeof Notification === 'undefined') return;
    const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    if (permission === 'granted') store.set(KEYS.notify, 'on');
    this.set({ notifications: notificationState() });
  }

  disableNotifications(): void {
    store.set(KEYS.notify, null);
    this.set({ notifications: notificationState() });
  }

  private notify(row: Row): void {
    if (!shouldNotify(row, this.state.notifications === 'on', this.notified)) return;
    store.set(KEYS.notified, JSON.stringify(this.notified));
    try {
      const n = new Notification(`${row.symbol} · ${row.pattern}`, {
        tag: row.id,
        body: `CRITICAL · confidence ${row.confidence.toFixed(2)} · ${row.tier.toLowerCase()}`,
      });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch {
      // Some browsers allow notifications only from a service worker.
      this.set({ notifications: 'failed' });
    }
  }

  // ── Backtests and health ────────────────────────────────────────────────────────────────

  private openFeed(): void {
    const token = this.o.token;
    let connectedBefore = false;
    const feed = createClient({
      url: this.wsUrl,
      lazy: true,
      keepAlive: 10_000,
      retryAttempts: Infinity,
      // Any loss is retried except a refused credential.
      shouldRetry: (err) => !isForbidden(err),
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, FEED_MAX_BACKOFF_MS))),
      connectionParams: () => (token ? { authorization: bearer(token) } : {}),
      on: {
        connected: () => {
          // After a gap: progress may have been missed, ask for each job's state.
          if (connectedBefore) void this.refreshBacktests();
          connectedBefore = true;
        },
      },
    });
    this.feed = feed;
    const sink = <T>(pick: (data: T) => void) => ({
      next: (result: { data?: T | null; errors?: readonly unknown[] }) => {
        if (result.data) pick(result.data);
      },
      error: (err: unknown) => {
        if (isForbidden(err)) this.o.onRefused('The server refused the token (revoked or expired?)');
      },
      complete: () => undefined,
    });
    feed.subscribe(
      { query: `subscription { backtestProgress { ${PROGRESS_FIELDS} } }` },
      sink<{ backtestProgress: BacktestProgress }>((d) =>
        this.backtest(d.backtestProgress.jobId, { progress: d.backtestProgress }),
      ),
    );
    feed.subscribe(
      { query: `subscription { backtestResult { ${RESULT_FIELDS} } }` },
      sink<{ backtestResult: BacktestResult }>((d) => this.backtest(d.backtestResult.jobId, { result: d.backtestResult })),
    );
    feed.subscribe(
      { query: `subscription { ${HEALTH_QUERY} }` },
      sink<{ systemHealth: SystemHealth }>((d) => this.set({ health: d.systemHealth })),
    );
  }

  /** The pipeline's state changes without a publisher report (a queue backing up): asked now and then too. */
  private async pollHealth(): Promise<void> {
    try {
      const { systemHealth } = await this.o.gql<{ systemHealth: SystemHealth }>(`{ ${HEALTH_QUERY} }`);
      if (!this.stopped) this.set({ health: systemHealth });
    } catch (err) {
      this.handleError(err);
    }
  }

  private backtest(jobId: string, update: Partial<Omit<BacktestView, 'jobId'>>): void {
    const current = this.state.backtests.find((b) => b.jobId === jobId) ?? { jobId, progress: null, result: null };
    const next: BacktestView = { ...current };
    // Later progress only (a refresh answer may cross a live event).
    if (update.progress && (!current.progress || update.progress.at >= current.progress.at)) next.progress = update.progress;
    if (update.result) next.result = update.result;
    const backtests = [next, ...this.state.backtests.filter((b) => b.jobId !== jobId)].slice(0, MAX_BACKTESTS);
    store.set(KEYS.backtests, JSON.stringify(backtests.map((b) => b.jobId)));
    this.set({ backtests });
  }

  private async fetchBacktest(jobId: string): Promise<BacktestView | null> {
    const { backtestJob } = await this.o.gql<{ backtestJob: BacktestView | null }>(
      `query Job($jobId: ID!) { backtestJob(jobId: $jobId) { jobId progress { ${PROGRESS_FIELDS} } result { ${RESULT_FIELDS} } } }`,
      { jobId },
    );
    return backtestJob;
  }

  /** The backtests shown before a reload, as they are now. */
  private async restoreBacktests(): Promise<void> {
    let ids: string[] = [];
    try {
      const saved: unknown = JSON.parse(store.get(KEYS.backtests) ?? '[]');
      if (Array.isArray(saved)) ids = saved.filter((v): v is string => typeof v === 'string').slice(0, MAX_BACKTESTS);
    } catch {
      ids = [];
    }
    for (const jobId of ids.reverse()) {
      const job = await this.fetchBacktest(jobId).catch(() => null);
      if (job && !this.stopped) this.backtest(jobId, { progress: job.progress, result: job.result });
    }
  }

  private async refreshBacktests(): Promise<void> {
    for (const b of this.state.backtests.filter((x) => !x.result)) {
      const job = await this.fetchBacktest(b.jobId).catch(() => null);
      if (job && !this.stopped) this.backtest(b.jobId, { progress: job.progress, result: job.result });
    }
  }

  /** True when the error ended the session (the credential was refused). */
  private handleError(err: unknown): boolean {
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
      this.o.onRefused(err.message);
      return true;
    }
    return false;
  }
}
