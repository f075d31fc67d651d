/**
 * The connection indicator (contract §8): live, reconnecting, or offline since a time. A short
 * gap reads "reconnecting"; past OFFLINE_AFTER_MS, or with the browser itself offline, it is
 * "offline since" the moment the connection was lost.
 */
import type { AlertClientState } from '../../../src/client/alert-client.js';
import { clock } from './format.js';

export const OFFLINE_AFTER_MS = 5_000;

export interface ConnectionView {
  kind: 'live' | 'connecting' | 'reconnecting' | 'offline';
  text: string;
}

/**
 * `lostAt`: when the connection stopped being live (null while it is, or before it ever was).
 * `online`: navigator.onLine.
 */
export function connectionView(state: AlertClientState, lostAt: number | null, now: number, online: boolean): ConnectionView {
  if (state === 'live') return { kind: 'live', text: 'Live' };
  if (state === 'connecting' && lostAt === null) return { kind: 'connecting', text: 'Connecting…' };
  const since = lostAt ?? now;
  if (state === 'closed' || !online || now - since >= OFFLINE_AFTER_MS) {
    return { kind: 'offline', text: `Offline since ${clock(since, now)}` };
  }
  return { kind: 'reconnecting', text: 'Reconnecting…' };
}
