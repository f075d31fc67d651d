export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Plain functions, not methods: `logger.warn` may be handed on on its own (no `this`). */
export interface Logger {
  debug: (message: string) => void;
  info: (message: string) => void;
  warn: (message: string) => void;
  error: (message: string) => void;
}

type Sink = (level: Exclude<LogLevel, 'silent'>, message: string) => void;

const toConsole: Sink = (level, message) =>
  level === 'error' || level === 'warn' ? console.error(message) : console.log(message);

/** The most a logged message may take (UTF-8 bytes, the cut marker included). */
export const LOG_MESSAGE_MAX_BYTES = 1024;

const B64URL = '[A-Za-z0-9_-]';
/** Patterns of credentials, in the order they are replaced. */
type Replacer = (match: string, key: string, value: string, offset: number, text: string) => string;
const SECRETS: readonly [RegExp, string | Replacer][] = [
  // An API token (`pw_` + 43 base64url characters), or one cut short: 32 characters are already a secret.
  [new RegExp(`pw_${B64URL}{32,}`, 'g'), 'pw_[redacted]'],
  // A JWT: base64url JSON header (`{"` is `eyJ`), payload and signature (empty for alg none).
  [new RegExp(`eyJ${B64URL}{4,}\\.${B64URL}{4,}\\.${B64URL}*`, 'g'), '[redacted JWT]'],
  // `Bearer <credential>`, whatever the credential (RFC 6750's token68). "Bearer token" is left alone.
  [/\b(Bearer)\s+[A-Za-z0-9._~+/-]{8,}=*/gi, '$1 [redacted]'],
  // An Authorization header's value (`authorization: Basic …`, `"authorization":"…"`), scheme and all.
  [
    /\b(authorization["']?\s*[:=]\s*["']?)([A-Za-z0-9._~+/=-]+(?:[ \t]+[A-Za-z0-9._~+/=-]+)?)/gi,
    // Left alone when short ("authorization: none") or already redacted ("Bearer pw_[redacted]").
    (match, key, value, offset, text) =>
      value.length < 8 || text.startsWith('[redacted', offset + match.length) ? match : `${key}[redacted]`,
  ],
];

/** `text` with every credential-looking substring replaced by a `[redacted]` marker. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRETS) {
    out = typeof replacement === 'string' ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  }
  return out;
}

/** `text` cut to at most `maxBytes` of UTF-8 (never inside a character), a marker saying how long it was. */
export function cutToBytes(text: string, maxBytes = LOG_MESSAGE_MAX_BYTES): string {
  // At most 3 bytes per UTF-16 unit: short strings need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = ` … [cut: ${bytes.length} bytes]`;
  let end = Math.max(0, maxBytes - Buffer.byteLength(marker));
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the first byte of a character
  return bytes.subarray(0, end).toString('utf8') + marker;
}

/** What reaches a sink: credentials redacted first (so none survives half-cut), then cut at 1 KiB. */
export function cleanLogMessage(message: string): string {
  return cutToBytes(redactSecrets(message));
}

/**
 * Lines below `level` are dropped; the sink decides where the rest go (the console by default).
 * Every message is cleaned on its way (`cleanLogMessage`): no credential, at most 1 KiB.
 */
export function createLogger(level: LogLevel, sink: Sink = toConsole): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: Exclude<LogLevel, 'silent'>) =>
    LOG_LEVELS.indexOf(l) >= min ? (m: string) => sink(l, cleanLogMessage(m)) : () => {};
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Repeats of the same failure (a reconnect loop) are said once per `intervalMs`. */
export function throttled(log: (message: string) => void, intervalMs = 5_000): (message: string) => void {
  let last = 0;
  return (message) => {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      log(message);
    }
  };
}
