/**
 * The credential (contract §5), as GraphiQL holds it (src/api/graphiql.ts, its init script):
 * `#token=…` is read from the URL fragment (which no browser sends to a server), taken off the
 * address bar and this history entry, and kept in sessionStorage under TOKEN_STORAGE_KEY (this
 * tab only; GraphiQL in the same tab shares it). `#token=` with nothing after it signs out.
 */
import { TOKEN_STORAGE_KEY } from '../../src/client/credential.js';

/** What the server wrote into the page: with `off` every request is an anonymous ADMIN. */
export function authMode(): 'required' | 'off' {
  return document.body.dataset['authMode'] === 'off' ? 'off' : 'required';
}

/**
 * The token of `#token=…`: a string ('' means sign out), or null when the fragment has none.
 * Removes it from the address bar, keeping anything else in the fragment.
 */
export function takeTokenFromFragment(): string | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const value = params.get('token');
  if (value === null) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return value.trim();
}

let memory: string | null = null;

/** The kept token; memory only when storage is refused (then a reload signs out). */
export function savedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_STORAGE_KEY) ?? memory;
  } catch {
    return memory;
  }
}

export function keepToken(token: string | null): void {
  memory = token || null;
  try {
    if (memory) sessionStorage.setItem(TOKEN_STORAGE_KEY, memory);
    else sessionStorage.removeItem(TOKEN_STORAGE_KEY);
  } catch {
    // Storage refused (a privacy mode): the token lives in memory for this page.
  }
}

/** sessionStorage that never throws: the dashboard's own small state (filter, notified ids). */
export const store = {
  get(key: string): string | null {
    try {
      return sessionStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key: string, value: string | null): void {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch {
      // Not kept across a reload; the page works on.
    }
  },
};
