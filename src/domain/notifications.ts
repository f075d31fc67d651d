/**
 * The rules of notifications (contract §7), as pure functions: the bounds of a rule, which
 * detections a rule takes, the retry curve, and what a webhook body and an email say.
 */
import type { Priority } from '../schema/events.js';
import type { NotificationChannel, WatchlistFilter } from '../schema/db.js';
import type { Detection } from '../schema/topics.js';
import { compileFilter, prioritiesAtLeast } from './pattern-filter.js';

/** Bounds of a rule; each one named in the error past it. */
export const RULE_LIMITS = {
  rulesPerUser: 20,
  rulesPerWatchlist: 5,
  /** A webhook URL's length. */
  urlLength: 2_048,
  /** An email address's length (RFC 5321's path limit). */
  emailLength: 254,
  maxPerHourMin: 1,
  maxPerHourMax: 1_000,
  /** testNotificationRule sends per rule within an hour. */
  testsPerHour: 10,
} as const;

// ---- targets

/** What is wrong with a webhook URL's form (the addresses it resolves to are checked apart), or null. */
export function webhookUrlProblem(target: string, allowPrivate: boolean): string | null {
  if (target.length > RULE_LIMITS.urlLength) return `a webhook URL may be at most ${RULE_LIMITS.urlLength} characters`;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'the webhook target is not a URL';
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    return allowPrivate
      ? 'a webhook URL must start with https:// or http://'
      : 'a webhook URL must start with https:// (http:// only with WEBHOOK_ALLOW_PRIVATE=true)';
  }
  if (url.username || url.password)
    return 'a webhook URL may not carry a user name or password (user:pass@): it is shown in rule listings';
  if (url.hash) return 'a webhook URL may not have a #fragment (it is never sent)';
  if (!url.hostname) return 'the webhook URL has no host';
  return null;
}

// One address, no display name, no list: nothing an SMTP header could be split on.
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** What is wrong with an email target, or null. */
export function emailAddressProblem(target: string): string | null {
  if (target.length > RULE_LIMITS.emailLength) return `an email address may be at most ${RULE_LIMITS.emailLength} characters`;
  const at = target.lastIndexOf('@');
  const local = target.slice(0, at);
  const labels = target.slice(at + 1).split('.');
  if (at < 1 || local.length > 64 || !LOCAL.test(local) || labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
    return 'the email target must be one address such as trader@example.com';
  }
  return null;
}

/** The target's form for its channel; null when fine. */
export function targetProblem(channel: NotificationChannel, target: string, allowPrivate: boolean): string | null {
  return channel === 'WEBHOOK' ? webhookUrlProblem(target, allowPrivate) : emailAddressProblem(target);
}

// ---- matching

/** What the detection writer knows of an enabled rule. */
export interface RuleToMatch {
  id: number;
  minPriority: Priority;
  /** The newest detection id when the rule was created: it applies to higher ids only. */
  afterDetectionId: number;
  filter: WatchlistFilter;
}

export type MatchableDetection = Pick<Detection, 'id' | 'symbol' | 'pattern' | 'tier' | 'confidence' | 'priority' | 'detectedAt'>;

export interface RuleMatcher {
  readonly size: number;
  /** Every (rule, detection) pair that makes a delivery, in detection order. */
  match(rows: readonly MatchableDetection[]): { ruleId: number; detectionId: number }[];
}

/**
 * Compiles rules once (each watchlist filter into a predicate, as subscriptions do), indexed by
 * symbol: a detection is only tried against the rules that name its symbol and those naming none.
 */
export function compileRules(rules: readonly RuleToMatch[]): RuleMatcher {
  const compiled = rules.map((r) => {
    const filter = compileFilter(r.filter);
    const priorities = new Set(prioritiesAtLeast(r.minPriority));
    return {
      id: r.id,
      after: r.afterDetectionId,
      matches: (d: MatchableDetection) => priorities.has(d.priority) && filter.matches(d),
    };
  });
  const bySymbol = new Map<string, typeof compiled>();
  const anySymbol: typeof compiled = [];
  compiled.forEach((c, i) => {
    const symbols = rules[i]!.filter.symbols;
    if (!symbols?.length) anySymbol.push(c);
    else for (const s of symbols) bySymbol.set(s, [...(bySymbol.get(s) ?? []), c]);
  });
  return {
    size: compiled.length,
    match(rows) {
      const pairs: { ruleId: number; detectionId: number }[] = [];
      for (const d of rows) {
        for (const list of [bySymbol.get(d.symbol), anySymbol]) {
          for (const rule of list ?? [])
            if (d.id > rule.after && rule.matches(d)) pairs.push({ ruleId: rule.id, detectionId: d.id });
        }
      }
      return pairs;
    },
  };
}

// ---- retries

/** Delay before retry `attemptsMade` (1 = after the first failure): base, 2×base, 4×base, … */
export function retryDelayMs(attemptsMade: number, baseMs: number): number {
  return baseMs * 2 ** Math.max(0, attemptsMade - 1);
}

/** From the first attempt to the last: the sum of the delays between `attempts` attempts. */
export function retrySpanMs(attempts: number, baseMs: number): number {
  return baseMs * (2 ** Math.max(0, attempts - 1) - 1);
}

// ---- what is sent

export interface WatchlistRef {
  id: number;
  name: string;
}

/** The detection as GraphQL serves it (contract §2): ids as strings, dates as ISO-8601. */
export function detectionJson(d: Detection) {
  return {
    id: String(d.id),
    eventId: d.eventId,
    symbol: d.symbol,
    pattern: d.pattern,
    confidence: d.confidence,
    tier: d.tier,
    priority: d.priority,
    timeframe: d.timeframe,
    category: d.category,
    price: d.price,
    detectedAt: d.detectedAt.toISOString(),
    receivedAt: d.receivedAt.toISOString(),
    expiresAt: d.expiresAt?.toISOString() ?? null,
    source: d.source,
    metadata: d.metadata,
  };
}

/** What one delivery says, whatever the channel. */
export type NotificationMessage =
  | { type: 'pattern.alert'; at: Date; watchlist: WatchlistRef; detection: Detection }
  | { type: 'pattern.test'; at: Date; watchlist: WatchlistRef; detection: Detection }
  | { type: 'pattern.digest'; at: Date; watchlist: WatchlistRef; count: number; detections: Detection[] };

/** A digest lists at most this many detections (the oldest); `count` says how many there were. */
export const DIGEST_MAX_LISTED = 100;

/** What testNotificationRule sends: a detection that never happened, marked as such. */
export function sampleDetection(at: Date): Detection {
  return {
    id: 0,
    eventId: 'patternwire-test',
    symbol: 'AAPL',
    pattern: 'BreakoutBO',
    confidence: 0.95,
    tier: 'DAILY',
    priority: 'CRITICAL',
    timeframe: '1d',
    category: null,
    price: null,
    detectedAt: at,
    receivedAt: at,
    storedAt: at,
    expiresAt: null,
    source: 'patternwire-test',
    metadata: { test: true },
  };
}

/** The webhook body (contract §7): `{"type","timestamp","data":{…}}`. */
export function webhookBody(m: NotificationMessage): string {
  const watchlist = { id: String(m.watchlist.id), name: m.watchlist.name };
  const data =
    m.type === 'pattern.digest'
      ? { watchlist, count: m.count, detections: m.detections.map(detectionJson) }
      : { detection: detectionJson(m.detection), watchlist };
  return JSON.stringify({ type: m.type, timestamp: m.at.toISOString(), data });
}

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
/** A header is one line: control characters (a CR/LF in a pattern name) become spaces. */
const oneLine = (s: string) => s.replace(/\p{Cc}+/gu, ' ');

/** `[CRITICAL] BreakoutBO on AAPL (0.95)` */
export function alertSubject(d: Pick<Detection, 'priority' | 'pattern' | 'symbol' | 'confidence'>): string {
  return oneLine(`[${d.priority}] ${d.pattern} on ${d.symbol} (${d.confidence.toFixed(2)})`);
}

function detectionFields(d: Detection): [string, string][] {
  const fields: [string, string | null][] = [
    ['Symbol', d.symbol],
    ['Pattern', d.pattern],
    ['Confidence', d.confidence.toFixed(2)],
    ['Priority', d.priority],
    ['Tier', d.tier],
    ['Timeframe', d.timeframe],
    ['Category', d.category],
    ['Price', d.price === null ? null : String(d.price)],
    ['Detected at', d.detectedAt.toISOString()],
    ['Expires at', d.expiresAt?.toISOString() ?? null],
    ['Source', d.source],
    ['Detection id', String(d.id)],
  ];
  return fields.filter((f): f is [string, string] => f[1] !== null);
}

const textTable = (rows: [string, string][]) => rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n');
const htmlTable = (rows: [string, string][]) =>
  `<table>${rows.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
const htmlPage = (body: string) => `<!doctype html><html><body>${body}</body></html>`;

/** The email for one message: subject, a text part and an HTML part (every value escaped). */
export function emailContent(m: NotificationMessage): EmailContent {
  const list = `watchlist "${m.watchlist.name}"`;
  if (m.type === 'pattern.digest') {
    const listed = m.detections.map((d) => `${d.detectedAt.toISOString()}  ${alertSubject(d)}`);
    const more = m.count > m.detections.length ? `… and ${m.count - m.detections.length} more` : null;
    const intro = `${m.count} alert(s) on ${list} went past the rule's hourly limit and were held back:`;
    return {
      subject: oneLine(`[digest] ${m.count} more alert(s) on ${list}`),
      text: [intro, '', ...listed, ...(more ? [more] : [])].join('\n'),
      html: htmlPage(
        `<p>${escapeHtml(intro)}</p><ul>${listed.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>${more ? `<p>${escapeHtml(more)}</p>` : ''}`,
      ),
    };
  }
  const d = m.detection;
  const test = m.type === 'pattern.test';
  const intro = test
    ? `A test of your notification rule on ${list}: this detection never happened.`
    : `${d.pattern} on ${d.symbol}, ${d.priority}, matched your ${list}.`;
  const rows = detectionFields(d);
  return {
    subject: test ? oneLine(`[test] ${alertSubject(d)} — ${list}`) : alertSubject(d),
    text: `${intro}\n\n${textTable([['Watchlist', m.watchlist.name], ...rows])}\n`,
    html: htmlPage(`<p>${escapeHtml(intro)}</p>${htmlTable([['Watchlist', m.watchlist.name], ...rows])}`),
  };
}
