/**
 * The benchmark signs in like any client (contract §5): `startPatternwire` makes a token for a
 * `bench` user once the database is migrated, and every HTTP request and WebSocket of the
 * bench carries it. The baseline relay ignores it.
 */
let token: string | null = null;

export function setBenchToken(value: string): void {
  token = value;
}

export function authHeaders(): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export function connectionParams(): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
