import { createHash } from 'node:crypto';
import { MAX_MESSAGE_BYTES, type RejectedMessage } from '../schema/events.js';

/**
 * A rejected message as it is stored: its channel, the reason in plain words and the bytes
 * (truncated to 64 KiB). The id hashes channel and bytes, so two ingest replicas (or a retried
 * job) store one row.
 */
export function rejectionOf(channel: string, raw: Buffer, reason: string, receivedAt: Date): RejectedMessage {
  return {
    kind: 'rejected',
    eventId: createHash('sha256').update(channel).update('\0').update(raw).digest('hex'),
    channel,
    // The reason is stored as text: nothing in it may be what PostgreSQL refuses.
    reason: reason.replaceAll('\u0000', '\\u0000').toWellFormed(),
    payloadBase64: raw.subarray(0, MAX_MESSAGE_BYTES).toString('base64'),
    byteLength: raw.length,
    receivedAt: receivedAt.toISOString(),
  };
}
