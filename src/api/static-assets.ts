/**
 * Answering a request for a file held in memory (GraphiQL's bundle, the dashboard's build):
 * a strong ETag and 304 on `If-None-Match`, gzip when the client accepts it (compressed once per
 * file), HEAD without a body. The caller decides the caching.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';

const gzip = promisify(gzipCallback);

export interface StaticAsset {
  body: Buffer | string;
  contentType: string;
  /** Strong validator for conditional requests (quoted, ready for the ETag header). */
  etag: string;
}

/** Files smaller than this are sent as they are: gzip would save next to nothing. */
const GZIP_MIN_BYTES = 1024;

export function etagOf(body: Buffer | string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Keyed by ETag, so every server in the process shares one compressed copy of a file. */
const gzipCache = new Map<string, Promise<Buffer>>();

function gzipped(asset: StaticAsset): Promise<Buffer> {
  let pending = gzipCache.get(asset.etag);
  if (!pending) {
    pending = gzip(asset.body);
    pending.catch(() => gzipCache.delete(asset.etag));
    gzipCache.set(asset.etag, pending);
  }
  return pending;
}

/** True when Accept-Encoding lists gzip (or *) with a non-zero q-value. */
export function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return value.split(',').some((part) => {
    const [coding = '', ...params] = part.split(';').map((item) => item.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((param) => param.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * Sends `asset` (200, or 304 when the client holds this version) with `headers` added, e.g.
 * `Cache-Control` and, for a page, its `Content-Security-Policy`.
 */
export async function sendAsset(
  req: IncomingMessage,
  res: ServerResponse,
  asset: StaticAsset,
  headers: Record<string, string> = {},
): Promise<void> {
  const compress = acceptsGzip(req) && Buffer.byteLength(asset.body) > GZIP_MIN_BYTES;
  // Each encoding is its own representation, so it gets its own ETag.
  const etag = compress ? `${asset.etag.slice(0, -1)}-gzip"` : asset.etag;
  const out: Record<string, string | number> = {
    ...headers,
    'Content-Type': asset.contentType,
    'X-Content-Type-Options': 'nosniff',
    ETag: etag,
    // Added to what the browser rules set (Origin): both change the answer.
    Vary: [...[res.getHeader('Vary') ?? []].flat().map(String), 'Accept-Encoding'].join(', '),
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, out);
    res.end();
    return;
  }
  let body: Buffer | string = asset.body;
  if (compress) {
    body = await gzipped(asset);
    out['Content-Encoding'] = 'gzip';
  }
  out['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(200, out);
  res.end(req.method === 'HEAD' ? undefined : body);
}
