import type { Priority, Tier } from './events.js';

/**
 * The GraphQL `PatternFilter` input (contract §2). Every list means "any of". `Time` is `Date`
 * once the server has parsed it, and an ISO-8601 string in a client's variables.
 */
export interface PatternFilterOf<Time> {
  symbols?: readonly string[] | null;
  patterns?: readonly string[] | null;
  tiers?: readonly Tier[] | null;
  minConfidence?: number | null;
  minPriority?: Priority | null;
  since?: Time | null;
  until?: Time | null;
}

/** A filter as the server holds it, after validation. */
export type PatternFilter = PatternFilterOf<Date>;
