import { age, clock, label, resultFigure } from '../logic/format.js';
import type { BacktestView } from '../model.js';

/** The figures of a result shown first, in this order; any others follow. */
const FIRST = ['win_rate', 'roi', 'sharpe_ratio', 'total_trades', 'max_drawdown'];

/** Backtests seen since the page opened (and those before a reload): progress bars, then results. */
export function Backtests({ backtests, now }: { backtests: readonly BacktestView[]; now: number }) {
  if (backtests.length === 0) return null;
  return (
    <section class="backtests" aria-label="Backtests">
      <h2>Backtests</h2>
      <ul>
        {backtests.map((b) => (
          <Job key={b.jobId} job={b} now={now} />
        ))}
      </ul>
    </section>
  );
}

function Job({ job, now }: { job: BacktestView; now: number }) {
  const { progress, result } = job;
  const fraction = result ? 1 : (progress?.progress ?? 0);
  const status = result?.status ?? progress?.status ?? 'unknown';
  const failed = /fail|error|cancel/i.test(status);
  const details: string[] = [];
  if (!result && progress?.currentSymbol) details.push(progress.currentSymbol);
  if (!result && progress?.processedSymbols != null) details.push(`${progress.processedSymbols} symbols`);
  if (!result && progress?.estimatedCompletion) details.push(`ETA ${clock(Date.parse(progress.estimatedCompletion), now)}`);
  const at = result?.at ?? progress?.at;
  if (at) details.push(`${age(Date.parse(at), now)} ago`);
  const figures = result?.results ? Object.entries(result.results).sort(([a], [b]) => rank(a) - rank(b)) : [];
  return (
    <li class={`job${result ? ' done' : ''}${failed ? ' failed' : ''}`} data-job={job.jobId}>
      <span class="job-id" title={job.jobId}>
        {job.jobId}
      </span>
      <progress max={1} value={fraction} aria-label={`${job.jobId} progress`} />
      <span class="num pct">{Math.round(fraction * 100)} %</span>
      <span class="status">{status}</span>
      <span class="details">{details.join(' · ')}</span>
      {result && (
        <span class="results" data-testid="results">
          {figures.map(([k, v]) => (
            <span key={k} class="figure">
              <span class="figure-label">{label(k)}</span> {resultFigure(k, v)}
            </span>
          ))}
          {result.processingTimeSeconds != null && (
            <span class="figure">
              <span class="figure-label">took</span> {result.processingTimeSeconds.toFixed(1)} s
            </span>
          )}
        </span>
      )}
    </li>
  );
}

function rank(key: string): number {
  const i = FIRST.indexOf(key);
  return i === -1 ? FIRST.length : i;
}
