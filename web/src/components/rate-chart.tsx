import { MINUTE_MS, type ArrivalLog } from '../logic/rate.js';

const WIDTH = 180;
const HEIGHT = 26;

/**
 * Alerts per minute over the last hour, one bar a minute, the current minute on the right.
 * Minutes before what the page could load are drawn as a dotted baseline: unknown, not zero.
 * Bars are SVG attributes, not inline styles (the CSP allows no style attribute).
 */
export function RateChart({ arrivals, now }: { arrivals: ArrivalLog; now: number }) {
  const counts = arrivals.perMinute(now);
  const known = counts.filter((c): c is number => c !== null);
  const max = Math.max(1, ...known);
  const total = known.reduce((a, b) => a + b, 0);
  const lastFull = counts[counts.length - 2] ?? null;
  const bar = WIDTH / counts.length;
  const firstStart = Math.floor(now / MINUTE_MS) * MINUTE_MS - (counts.length - 1) * MINUTE_MS;
  return (
    <span class="stat rate" data-testid="rate">
      <span class="stat-label">alerts/min</span>
      <span class="stat-value">{lastFull ?? '—'}</span>
      <svg
        class="spark"
        width={WIDTH}
        height={HEIGHT}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`Alerts per minute over the last hour: ${total} in all${counts.includes(null) ? ' (the page loaded part of it)' : ''}`}
      >
        {counts.map((c, i) => {
          const x = i * bar;
          const start = new Date(firstStart + i * MINUTE_MS);
          const minute = `${String(start.getHours()).padStart(2, '0')}:${String(start.getMinutes()).padStart(2, '0')}`;
          if (c === null) return <rect key={i} class="unknown" x={x} y={HEIGHT - 1} width={bar - 1} height={1} />;
          const h = c === 0 ? 1 : Math.max(2, Math.round((c / max) * (HEIGHT - 2)));
          return (
            <rect
              key={i}
              class={c === 0 ? 'zero' : i === counts.length - 1 ? 'now' : 'bar'}
              x={x}
              y={HEIGHT - h}
              width={bar - 1}
              height={h}
            >
              <title>{`${minute}: ${c}`}</title>
            </rect>
          );
        })}
      </svg>
      <span class="stat-note">{total}/h</span>
    </span>
  );
}
