import { createDatabase } from '../../src/db/client.js';
import { createUser, findUserByName, insertToken } from '../../src/db/identity.js';
import { generateToken } from '../../src/domain/credentials.js';
import type { Role } from '../../src/schema/db.js';

export interface TestUser {
  userId: number;
  name: string;
  token: string;
  tokenId: number;
}

/** A user (created if new) and a fresh token for it, straight in the database. */
export async function createTestUser(
  databaseUrl: string,
  name: string,
  role: Role,
  expiresAt: Date | null = null,
): Promise<TestUser> {
  const database = await createDatabase({ url: databaseUrl, dataDir: '.data', poolSize: 1 });
  try {
    await database.migrate();
    const user = (await findUserByName(database.db, name)) ?? (await createUser(database.db, name, role))!;
    const { token, hash } = generateToken();
    const row = await insertToken(database.db, { userId: user.id, name: 'test', hash, expiresAt });
    return { userId: user.id, name, token, tokenId: row.id };
  } finally {
    await database.close();
  }
}

export interface GqlResponse<T> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** A GraphQL POST with `Authorization: Bearer <token>` (none when token is null). */
export async function gqlAs<T = Record<string, unknown>>(
  httpUrl: string,
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GqlResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${httpUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResponse<T>['body'] };
}

/** The error code of the first GraphQL error, for terse assertions. */
export const codeOf = (r: GqlResponse<unknown>) => r.body.errors?.[0]?.extensions?.['code'];
