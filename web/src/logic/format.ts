/** How times, ages and numbers read on the dashboard. */

/** Age of something that happened at `then`, seen at `now` (both epoch ms): `now`, `42s`, `7m`, `3h`, `2d`. */
export function age(then: number, now: number): string {
  const s = Math.floor((now - then) / 1000);
  if (s < 1) return 'now';
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local wall-clock time, `14:03:07`; with the date (`Nov 26 14:03`) when not today. */
export function clock(at: number, now: number): string {
  const d = new Date(at);
  const today = new Date(now);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleString('en', { month: 'short' })} ${d.getDate()} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Milliseconds as they fit a status bar: `8 ms`, `240 ms`, `1.4 s`, `12 s`. */
export function millis(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/** A backtest's result figure: fractions of a whole (win rate, ROI, drawdown) as percentages. */
export function resultFigure(key: string, value: unknown): string {
  if (typeof value !== 'number') return typeof value === 'string' ? value : JSON.stringify(value);
  if (/rate|roi|drawdown|return/i.test(key) && Math.abs(value) <= 1) return `${(value * 100).toFixed(1)} %`;
  return Number.isInteger(value) ? value.toLocaleString('en') : value.toFixed(2);
}

/** `win_rate` → `win rate`. */
export function label(key: string): string {
  return key.replace(/_/g, ' ');
}
