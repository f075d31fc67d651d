import { memo } from 'preact/compat';
import { age, clock } from '../logic/format.js';
import type { PanelState } from '../model.js';
import type { Row, Tier } from '../types.js';

const TITLES: Record<Tier, string> = { DAILY: 'Daily', INTRADAY: 'Intraday', COMBO: 'Combo' };

/** One tier's detections, newest first; rows that arrived live are highlighted as they appear. */
export function Panel({ tier, panel, now }: { tier: Tier; panel: PanelState; now: number }) {
  return (
    <section class="panel" data-tier={tier} aria-label={TITLES[tier]}>
      <header class="panel-head">
        <h2>{TITLES[tier]}</h2>
        <span class="count" data-testid="count">
          {panel.rows.length}
        </span>
      </header>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Symbol</th>
              <th scope="col">Pattern</th>
              <th scope="col" class="num">
                Conf
              </th>
              <th scope="col">Priority</th>
              <th scope="col">Detected</th>
              <th scope="col" class="num">
                Age
              </th>
            </tr>
          </thead>
          <tbody>
            {panel.rows.map((row) => (
              <DetectionRow key={row.id} row={row} live={panel.live.has(row.id)} now={now} />
            ))}
          </tbody>
        </table>
        {panel.rows.length === 0 && <p class="empty">{panel.loading ? 'Loading…' : 'No detections yet'}</p>}
      </div>
    </section>
  );
}

/** Re-rendered when the age text changes, not on every tick. */
const DetectionRow = memo(
  function DetectionRow({ row, live, now }: { row: Row; live: boolean; now: number }) {
    const detected = Date.parse(row.detectedAt);
    const p = row.priority.toLowerCase();
    return (
      <tr
        class={`p-${p}${live ? ' fresh' : ''}`}
        data-id={row.id}
        data-priority={row.priority}
        title={`id ${row.id} · detected ${row.detectedAt} · received ${row.receivedAt}`}
      >
        <td class="symbol">{row.symbol}</td>
        <td class="pattern">{row.pattern}</td>
        <td class="num conf">{row.confidence.toFixed(2)}</td>
        <td>
          <span class={`prio prio-${p}`}>{row.priority}</span>
        </td>
        <td class="time">{clock(detected, now)}</td>
        <td class="num age">{age(detected, now)}</td>
      </tr>
    );
  },
  (a, b) =>
    a.row === b.row && a.live === b.live && age(Date.parse(a.row.detectedAt), a.now) === age(Date.parse(b.row.detectedAt), b.now),
);
