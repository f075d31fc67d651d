/**
 * How a browser page of ours holds its credential (contract §5): `npm start` prints
 * `…/#token=…` and `…/graphql#token=…`; the page takes the token from the URL fragment (never
 * sent to a server), keeps it in sessionStorage under this key (this tab only, gone when it
 * closes) and takes it off the address bar. GraphiQL (src/api/graphiql.ts, a plain script) and
 * the dashboard (web/) share the key, so one sign-in serves both pages of a tab.
 */
export const TOKEN_STORAGE_KEY = 'patternwire.token';

/** The `authorization` value (HTTP header, graphql-ws connectionParams) for a credential. */
export function bearer(credential: string): string {
  return `Bearer ${credential}`;
}
