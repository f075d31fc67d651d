/**
 * The contract's two enums (§2), importing nothing, so the dashboard (web/) can use them in the
 * browser. events.ts re-exports them beside the zod schemas.
 */
export const TIERS = ['DAILY', 'INTRADAY', 'COMBO'] as const;
export type Tier = (typeof TIERS)[number];

/** Highest first: the order matters for `minPriority`. */
export const PRIORITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
export type Priority = (typeof PRIORITIES)[number];
