/**
 * Browser notifications (contract §8): one per CRITICAL detection, never two for one, however
 * often it arrives (a replay after a reconnect, a reload of the page, a resubscription after a
 * filter change). The ids already notified are kept in sessionStorage, the newest MAX_NOTIFIED.
 */
import type { Row } from '../types.js';

export const MAX_NOTIFIED = 1_000;

/** What merits a notification: CRITICAL is confidence ≥ 0.9, as the server classified it. */
export function merits(row: Pick<Row, 'priority'>): boolean {
  return row.priority === 'CRITICAL';
}

/** A bounded set of detection ids, oldest forgotten first. */
export class NotifiedIds {
  private readonly ids: Set<string>;

  constructor(
    saved: readonly string[] = [],
    private readonly max = MAX_NOTIFIED,
  ) {
    this.ids = new Set(saved.slice(-max));
  }

  /** Parses what toJSON() gave; anything else (a hand-edited value) starts empty. */
  static parse(text: string | null, max = MAX_NOTIFIED): NotifiedIds {
    try {
      const value: unknown = JSON.parse(text ?? '[]');
      return new NotifiedIds(Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [], max);
    } catch {
      return new NotifiedIds([], max);
    }
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; true when it was not known (then the caller notifies). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
    return true;
  }

  get size(): number {
    return this.ids.size;
  }

  toJSON(): string[] {
    return [...this.ids];
  }
}

/** Whether `row` should be notified now; remembers it when so. */
export function shouldNotify(row: Pick<Row, 'id' | 'priority'>, enabled: boolean, notified: NotifiedIds): boolean {
  return enabled && merits(row) && notified.add(row.id);
}
