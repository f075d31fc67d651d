/**
 * A panel's rows: newest first (id descending), each detection once, at most `max`. The ids are
 * the server's increasing integers (as strings), so a replay after a reconnect, or a live alert
 * the initial query already returned, lands on a row that is there and changes nothing.
 */
import type { Row } from '../types.js';

/** Panels keep this many rows; older ones fall off the bottom. */
export const MAX_ROWS = 200;

/** Numeric order of two detection ids (digit strings, no leading zeros; may exceed 2^53). */
export function compareIds(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `current` with `incoming` merged in. Returns `current` itself when nothing new fits, so a
 * caller can skip a render.
 */
export function mergeRows<T extends Pick<Row, 'id'>>(
  current: readonly T[],
  incoming: readonly T[],
  max = MAX_ROWS,
): readonly T[] {
  const known = new Set(current.map((r) => r.id));
  const added: T[] = [];
  for (const row of incoming) {
    if (known.has(row.id)) continue;
    known.add(row.id);
    added.push(row);
  }
  if (added.length === 0) return current;
  const oldest = current.length >= max ? current[current.length - 1] : undefined;
  // Full and every new row older than the oldest kept: nothing changes.
  if (oldest && added.every((r) => compareIds(r.id, oldest.id) < 0)) return current;
  return [...current, ...added].sort((a, b) => compareIds(b.id, a.id)).slice(0, max);
}
