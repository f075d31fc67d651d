/**
 * GraphQL over HTTP to our own origin, with the credential as `Authorization: Bearer …`, and the
 * session cookie for /admin/queues (contract §8, served by the operations side).
 */
import { bearer } from '../../src/client/credential.js';

/** An error the server reported: its `extensions.code` (`UNAUTHENTICATED`, `BAD_USER_INPUT`, …) and message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphqlResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export type Graphql = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

/** A GraphQL client for `token` (none with AUTH_MODE=off). */
export function graphqlClient(token: string | null): Graphql {
  return async <T>(query: string, variables?: Record<string, unknown>): Promise<T> => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    };
    if (token) headers['authorization'] = bearer(token);
    let res: Response;
    try {
      res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch {
      throw new ApiError('The server cannot be reached', 'UNREACHABLE', 0);
    }
    let body: GraphqlResponse<T>;
    try {
      body = (await res.json()) as GraphqlResponse<T>;
    } catch {
      throw new ApiError(`The server answered ${res.status} without GraphQL`, null, res.status);
    }
    const first = body.errors?.[0];
    if (first) throw new ApiError(first.message, first.extensions?.code ?? null, res.status);
    if (!body.data) throw new ApiError(`The server answered ${res.status} without data`, null, res.status);
    return body.data;
  };
}

/**
 * Asks the server for the HttpOnly, SameSite=Strict session cookie that /admin/queues accepts
 * (contract §8). Best effort: an older server without `/session` answers 404, and the
 * dashboard does not depend on it.
 */
export async function openSession(token: string): Promise<void> {
  try {
    await fetch('/session', { method: 'POST', headers: { authorization: bearer(token) } });
  } catch {
    // Unreachable now; the next sign-in asks again.
  }
}
