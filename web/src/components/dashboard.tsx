/**
 * The signed-in page: status bar, health banner, filter bar, running backtests, and the three
 * tier panels. State and connections are the model's (../model.ts).
 */
import { useEffect, useLayoutEffect, useMemo } from 'preact/hooks';
import { TIERS } from '../../../src/schema/enums.js';
import { graphqlClient } from '../api.js';
import { useNow, useOnline, useSnapshot } from '../hooks.js';
import { connectionView } from '../logic/connection.js';
import { millis } from '../logic/format.js';
import { summarize } from '../logic/latency.js';
import { DashboardModel, type NotificationState } from '../model.js';
import type { User } from './app.js';
import { Backtests } from './backtests.js';
import { FilterBar } from './filter-bar.js';
import { HealthBanner } from './health-banner.js';
import { Panel } from './panel.js';
import { RateChart } from './rate-chart.js';

export interface DashboardProps {
  token: string | null;
  user: User;
  authOff: boolean;
  onSignOut: () => void;
  onRefused: (why: string) => void;
}

export function Dashboard({ token, user, authOff, onSignOut, onRefused }: DashboardProps) {
  // One model per sign-in; onRefused is read through the props of the first render on purpose
  // (the App's callback is stable).
  const model = useMemo(() => new DashboardModel({ token, gql: graphqlClient(token), onRefused }), [token]);
  useEffect(() => {
    void model.start();
    return () => model.stop();
  }, [model]);
  const s = useSnapshot(model);
  const now = useNow();
  const online = useOnline();

  // After every commit: the live rows merged since are on the screen now (delivery latency).
  useLayoutEffect(() => model.rendered(Date.now()));

  const link = connectionView(s.link.state, s.link.lostAt, now, online);
  // The clock as of this render, not of the last tick: a sample taken since counts at once.
  const latency = summarize(s.latency, Math.max(now, Date.now()));

  return (
    <div class="app">
      <header class="topbar">
        <h1 class="brand">
          <span class="logo" aria-hidden="true" />
          Patternwire
        </h1>
        <span class={`link link-${link.kind}`} data-testid="connection" role="status">
          <span class="dot" aria-hidden="true" />
          {link.text}
        </span>
        <span
          class="stat"
          data-testid="latency"
          title="Delivery latency: from the server receiving a detection to its row on this screen, over the last minute"
        >
          <span class="stat-label">latency</span>
          {latency ? (
            <>
              <span class="stat-value">p50 {millis(latency.p50)}</span>
              <span class="stat-value">p95 {millis(latency.p95)}</span>
              <span class="stat-note">n={latency.count}</span>
            </>
          ) : (
            <span class="stat-value muted">no alerts in the last minute</span>
          )}
        </span>
        <RateChart arrivals={s.arrivals} now={Math.max(now, Date.now())} />
        <span class="spacer" />
        <NotificationsButton state={s.notifications} model={model} />
        <span class="user" title={user.role}>
          {authOff ? 'AUTH_MODE=off' : user.name}
        </span>
        {!authOff && (
          <button type="button" class="btn" onClick={onSignOut}>
            Sign out
          </button>
        )}
      </header>
      <HealthBanner health={s.health} now={now} />
      <FilterBar model={model} filter={s.filter} watchlists={s.watchlists} error={s.filterError} />
      <Backtests backtests={s.backtests} now={now} />
      <main class="panels">
        {TIERS.map((tier) => (
          <Panel key={tier} tier={tier} panel={s.panels[tier]} now={now} />
        ))}
      </main>
    </div>
  );
}

function NotificationsButton({ state, model }: { state: NotificationState; model: DashboardModel }) {
  switch (state) {
    case 'unsupported':
      return null;
    case 'denied':
      return (
        <span class="notify muted" title="Allow notifications for this site in the browser's settings">
          Notifications blocked
        </span>
      );
    case 'failed':
      return <span class="notify muted">Notifications unavailable</span>;
    case 'on':
      return (
        <button
          type="button"
          class="btn notify on"
          aria-pressed="true"
          title="A notification for every CRITICAL alert; click to stop"
          onClick={() => model.disableNotifications()}
        >
          Notifications on
        </button>
      );
    case 'off':
      return (
        <button
          type="button"
          class="btn notify"
          aria-pressed="false"
          title="A browser notification for every CRITICAL alert (confidence ≥ 0.9)"
          onClick={() => void model.enableNotifications()}
        >
          Enable notifications
        </button>
      );
  }
}
