/**
 * The Content-Security-Policy of the pages Patternwire serves (GraphiQL at /graphql, the dashboard
 * at /), written once: every page starts from STRICT_DIRECTIVES (only our own origin, no inline
 * script, no framing, no plugins) and names each relaxation it needs, with the reason.
 */

type Directive =
  | 'default-src'
  | 'script-src'
  | 'style-src'
  | 'img-src'
  | 'font-src'
  | 'connect-src'
  | 'worker-src'
  | 'manifest-src'
  | 'object-src'
  | 'base-uri'
  | 'form-action'
  | 'frame-ancestors';

/**
 * What every page gets. `connect-src 'self'` covers both the HTTP endpoint and the same-host
 * ws:/wss: WebSocket of subscriptions. `style-src 'self'` allows stylesheets from our origin
 * only: no `<style>` element and no `style="…"` attribute in markup (styles a script sets through
 * the CSSOM, `element.style.width = …`, are not affected by CSP).
 */
const STRICT_DIRECTIVES: Readonly<Record<Directive, string | null>> = {
  'default-src': "'none'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self'",
  'font-src': null,
  'connect-src': "'self'",
  'worker-src': null,
  'manifest-src': "'self'",
  'object-src': "'none'",
  'base-uri': "'none'",
  'form-action': "'none'",
  'frame-ancestors': "'none'",
};

/** The strict policy with `relaxed` directives replaced (or added), as a header value. */
function policy(relaxed: Partial<Record<Directive, string>> = {}): string {
  return Object.entries({ ...STRICT_DIRECTIVES, ...relaxed })
    .filter(([, value]) => value !== null)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
}

/** The dashboard (a Vite build of `web/`): the strict policy, with nothing relaxed. */
export const DASHBOARD_CSP = policy();

/**
 * GraphiQL's prebuilt bundle needs three relaxations:
 * - `style-src 'unsafe-inline'`: the Monaco editor and the UI components insert `<style>`
 *   elements and `style` attributes at run time (without a nonce); with `style-src 'self'` alone
 *   chromium reports more than 100 violations. Scripts get no such allowance.
 * - `img-src`/`font-src data:`: the stylesheet embeds its fonts and icons as data: URIs.
 * - `worker-src 'self'`: Monaco runs its language services in Web Workers, served from our own
 *   origin (no blob: URLs needed).
 */
export const GRAPHIQL_CSP = policy({
  'style-src': "'self' 'unsafe-inline'",
  'img-src': "'self' data:",
  'font-src': "'self' data:",
  'worker-src': "'self'",
});

/**
 * bull-board's page and assets at /admin/queues (`@bull-board/ui`, prebuilt), and only they:
 * - `style-src 'unsafe-inline'`: its page has a `<style>` element and `style` attributes, and
 *   its React components set inline styles; scripts get no such allowance (its only inline
 *   `<script>` is `type="application/json"` data, which CSP does not apply to).
 * - `img-src`/`font-src data:`: icons embedded in its stylesheet.
 * - `base-uri 'self'`: the page sets `<base href="/admin/queues/">` for its relative asset URLs.
 * - `form-action 'self'`: its dialogs are forms (handled by script, never posted elsewhere).
 * Its Google Fonts stylesheet link is removed from the page (operations.ts,
 * `withoutExternalFonts`): nothing is loaded from another origin, and system fonts are used.
 */
export const ADMIN_QUEUES_CSP = policy({
  'style-src': "'self' 'unsafe-inline'",
  'img-src': "'self' data:",
  'font-src': "'self' data:",
  'base-uri': "'self'",
  'form-action': "'self'",
});
