import type { DeliveryStatus, NotificationChannel } from '../schema/db.js';

/**
 * Told every status a delivery is given: SUPPRESSED when the outbox makes it past a rule's cap,
 * DELIVERED, RETRYING or FAILED when the engine settles an attempt (`settle` in ./engine.ts,
 * the one place an attempt's outcome is decided). The composition root (runtime/system.ts)
 * passes one listener to both: the place to count `patternwire_notifications_total{channel,status}`.
 */
export type DeliveryOutcomeListener = (channel: NotificationChannel, status: DeliveryStatus) => void;
