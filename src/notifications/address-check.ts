/**
 * The SSRF rule (contract §7): a webhook reaches public addresses only. A target's host is
 * resolved and every address it resolves to is checked — at creation, and again at every send
 * (DNS can change) — and the send connects to exactly the addresses that were checked, so a
 * name that resolves differently between the check and the connection (DNS rebinding) gains
 * nothing.
 */
import { lookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { forbiddenAddress } from '../domain/addresses.js';
import { withTimeout } from '../lib/timeout.js';

/** The target may not be reached: a policy answer, not a fault; retrying changes nothing. */
export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

/** The host could not be resolved (no such name, a DNS failure): may pass later. */
export class TargetUnresolvedError extends Error {
  override name = 'TargetUnresolvedError';
}

const LOOKUP_TIMEOUT_MS = 5_000;

/** A URL's host as DNS and `isIP` take it: IPv6 literals lose their brackets. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Every address `url`'s host resolves to, each checked; throws TargetRefusedError naming the
 * first forbidden one (unless `allowPrivate`), TargetUnresolvedError when it does not resolve.
 */
export async function resolveTarget(url: URL, allowPrivate: boolean): Promise<LookupAddress[]> {
  const host = bareHost(url);
  const family = isIP(host);
  let addresses: LookupAddress[];
  if (family !== 0) addresses = [{ address: host, family }];
  else {
    try {
      addresses = await withTimeout(
        new Promise<LookupAddress[]>((resolve, reject) =>
          lookup(host, { all: true, verbatim: true }, (err, found) => (err ? reject(err) : resolve(found))),
        ),
        LOOKUP_TIMEOUT_MS,
        `resolving ${host} took longer than ${LOOKUP_TIMEOUT_MS} ms`,
      );
    } catch (err) {
      throw new TargetUnresolvedError(`the host ${host} does not resolve (${(err as Error).message})`);
    }
    if (addresses.length === 0) throw new TargetUnresolvedError(`the host ${host} resolves to no address`);
  }
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const reason = forbiddenAddress(address);
      if (reason) {
        const via = family === 0 ? `the host ${host} resolves to ${address}, ` : `${address} is `;
        throw new TargetRefusedError(
          `${via}${reason}: webhooks may only reach public addresses (WEBHOOK_ALLOW_PRIVATE=true allows others)`,
        );
      }
    }
  }
  return addresses;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that answers with addresses already checked, instead of asking
 * DNS again; `options.all` (Node's happy-eyeballs connect) gets them all.
 */
export function pinnedLookup(addresses: readonly LookupAddress[]) {
  return (_host: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    const usable = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : [...addresses];
    if (usable.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked IPv${family} address`);
      err.code = 'ENOTFOUND';
      callback(err, '', 0);
    } else if (options.all) callback(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
}
