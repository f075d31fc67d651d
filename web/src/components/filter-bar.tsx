import { useLayoutEffect, useState } from 'preact/hooks';
import { PRIORITIES } from '../../../src/schema/enums.js';
import { describeFilter, parseSymbols, type FilterChoice } from '../logic/filter.js';
import type { DashboardModel } from '../model.js';
import type { Priority, Watchlist } from '../types.js';

interface FilterBarProps {
  model: DashboardModel;
  filter: FilterChoice;
  watchlists: readonly Watchlist[];
  /** The server's refusal of the filter, or why the panels could not load. */
  error: string | null;
}

/**
 * One of the user's watchlists, or symbols and a minimum priority typed in; the filter shown can
 * be saved as a new watchlist. Applying a filter reloads the panels and resubscribes.
 */
export function FilterBar({ model, filter, watchlists, error }: FilterBarProps) {
  const watchlist = filter.kind === 'watchlist' ? filter.watchlist : null;
  const [symbols, setSymbols] = useState(filter.kind === 'typed' ? filter.symbols.join(', ') : '');
  const [minPriority, setMinPriority] = useState<Priority | ''>(filter.kind === 'typed' ? (filter.minPriority ?? '') : '');
  const [name, setName] = useState('');
  const [saveProblem, setSaveProblem] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  // The filter restored from the session (or a watchlist chosen) shows in the inputs. In the same
  // commit as the change: a passive effect runs after the next frame, and would put back what the
  // user typed over by then (switching from a watchlist to a typed filter, then clearing it).
  useLayoutEffect(() => {
    if (filter.kind === 'typed') {
      setSymbols(filter.symbols.join(', '));
      setMinPriority(filter.minPriority ?? '');
    } else {
      setSymbols(filter.watchlist.filter.symbols?.join(', ') ?? '');
      setMinPriority(filter.watchlist.filter.minPriority ?? '');
    }
  }, [filter]);

  const apply = () => void model.setFilter({ kind: 'typed', symbols: parseSymbols(symbols), minPriority: minPriority || null });

  const save = async () => {
    setSaving(true);
    setSaveProblem(null);
    // What is typed counts, even if not applied yet: apply it first.
    if (!watchlist) await model.setFilter({ kind: 'typed', symbols: parseSymbols(symbols), minPriority: minPriority || null });
    const problem = await model.saveWatchlist(name.trim());
    setSaving(false);
    setSaveProblem(problem);
    if (!problem) setName('');
  };

  return (
    <form
      class="filters"
      aria-label="Filter"
      onSubmit={(e) => {
        e.preventDefault();
        apply();
      }}
    >
      <label class="field">
        <span>Watchlist</span>
        <select
          name="watchlist"
          value={watchlist?.id ?? ''}
          onChange={(e) => {
            const chosen = watchlists.find((w) => w.id === e.currentTarget.value);
            void model.setFilter(
              chosen
                ? { kind: 'watchlist', watchlist: chosen }
                : { kind: 'typed', symbols: parseSymbols(symbols), minPriority: minPriority || null },
            );
          }}
        >
          <option value="">— typed filter —</option>
          {watchlists.map((w) => (
            <option key={w.id} value={w.id}>
              {w.name}
            </option>
          ))}
        </select>
      </label>
      <label class="field grow">
        <span>Symbols</span>
        <input
          name="symbols"
          type="text"
          placeholder="all — or AAPL, NVDA, …"
          autoComplete="off"
          spellcheck={false}
          disabled={watchlist !== null}
          value={symbols}
          onInput={(e) => setSymbols(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Min priority</span>
        <select
          name="minPriority"
          disabled={watchlist !== null}
          value={minPriority}
          onChange={(e) => setMinPriority(e.currentTarget.value as Priority | '')}
        >
          <option value="">any</option>
          {PRIORITIES.filter((p) => p !== 'LOW').map((p) => (
            <option key={p} value={p}>
              {p}
              {p === 'CRITICAL' ? '' : ' and above'}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="btn primary" disabled={watchlist !== null}>
        Apply
      </button>
      <span class="showing" data-testid="showing" title={describeFilter(filter)}>
        {describeFilter(filter)}
      </span>
      <label class="field">
        <span class="sr-only">Watchlist name</span>
        <input
          name="watchlistName"
          type="text"
          placeholder="name"
          maxLength={100}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      <button type="button" class="btn" disabled={saving || !name.trim()} onClick={() => void save()}>
        Save as watchlist
      </button>
      {(error || saveProblem) && (
        <p class="problem" role="alert">
          {saveProblem ?? error}
        </p>
      )}
    </form>
  );
}
