/**
 * The operator's routes (contract §8), beside GraphQL on the API's port:
 *
 * - `GET /metrics`: Prometheus text, for an ADMIN credential (open with `AUTH_MODE=off`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/authenticator.js';
import { METRICS_CONTENT_TYPE, metricsText } from '../metrics/metrics.js';
import type { RequestGate } from './request-auth.js';

export const METRICS_PATH = '/metrics';

type Send = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void;

export interface OperationsOptions {
  gate: RequestGate;
  send: Send;
}

/** Handles the request when it is one of these routes (resolves true); false for any other path. */
export type OperationsRoutes = (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>;

export function createOperationsRoutes(o: OperationsOptions): OperationsRoutes {
  const methodNotAllowed = (req: IncomingMessage, res: ServerResponse, allow: string) => {
    res.setHeader('Allow', allow);
    o.send(res, 405, {
      error: `${req.method} is not allowed here; use ${allow.replace(', ', ' or ')}`,
    });
  };

  const forbidden = (res: ServerResponse, what: string, p: Principal) =>
    o.send(res, 403, {
      error: `${what} is for ADMINs; you are a ${p.role}`,
      code: 'FORBIDDEN',
    });

  async function metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(req, res, 'GET, HEAD');
    const principal = await o.gate.admit(req, res, 'rest');
    if (!principal) return;
    if (principal.role !== 'ADMIN') return forbidden(res, METRICS_PATH, principal);
    const text = await metricsText();
    res.writeHead(200, {
      'Content-Type': METRICS_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  return async (req, res, pathname) => {
    if (pathname === METRICS_PATH) await metrics(req, res);
    else return false;
    return true;
  };
}
