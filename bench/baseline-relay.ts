/**
 * The floor of Patternwire's delivery path on this machine: one Redis SUBSCRIBE on the patterns
 * channel feeding a graphql-ws subscription directly — no queue, no database, no validation
 * beyond JSON.parse. It serves the same subscription shape as Patternwire
 * (`patternAlert(filter) { id eventId symbol pattern confidence tier metadata }`), so the same
 * load generator measures both.
 *
 * Started by the benchmark as its own process:
 *   REDIS_URL=… BASELINE_CHANNEL=… PORT=… node --import tsx bench/baseline-relay.ts
 * GET /healthz answers 200 once the Redis subscription is confirmed; GET /stats gives counters.
 */
import { createServer } from 'node:http';
import { buildSchema, type GraphQLFieldConfig, type GraphQLObjectType } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const channel = process.env['BASELINE_CHANNEL'] ?? 'tickstock.events.patterns';
const port = Number(process.env['PORT'] ?? 4100);

interface Alert {
  id: string;
  eventId: string;
  symbol: string;
  pattern: string;
  confidence: number;
  tier: 'DAILY' | 'INTRADAY' | 'COMBO';
  metadata: Record<string, unknown>;
}

const schema = buildSchema(/* GraphQL */ `
  scalar JSON
  enum Tier {
    DAILY
    INTRADAY
    COMBO
  }
  input PatternFilter {
    symbols: [String!]
  }
  type PatternDetection {
    id: ID!
    eventId: String!
    symbol: String!
    pattern: String!
    confidence: Float!
    tier: Tier!
    metadata: JSON
  }
  type Query {
    subscribers: Int!
  }
  type Subscription {
    patternAlert(filter: PatternFilter): PatternDetection!
  }
`);

/** A subscriber's queue: pushed by the Redis handler, pulled by graphql-ws. */
interface Listener {
  symbols: Set<string> | null;
  queue: Alert[];
  wake: ((r: IteratorResult<Alert>) => void) | null;
}
const listeners = new Set<Listener>();
let received = 0;
let badMessages = 0;

function subscribe(symbols: readonly string[] | null | undefined): AsyncIterableIterator<Alert> {
  const l: Listener = {
    symbols: symbols?.length ? new Set(symbols.map((s) => s.trim().toUpperCase())) : null,
    queue: [],
    wake: null,
  };
  listeners.add(l);
  const done = (): Promise<IteratorResult<Alert>> => {
    listeners.delete(l);
    l.queue.length = 0;
    l.wake?.({ value: undefined, done: true });
    l.wake = null;
    return Promise.resolve({ value: undefined, done: true });
  };
  const it: AsyncIterableIterator<Alert> = {
    next: () =>
      l.queue.length
        ? Promise.resolve({ value: l.queue.shift()!, done: false })
        : new Promise((resolve) => {
            l.wake = resolve;
          }),
    return: done,
    throw: (err) => {
      void done();
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

const TIERS = new Set(['DAILY', 'INTRADAY', 'COMBO']);
/** Just enough of the contract to answer the same fields. */
function toAlert(m: Record<string, unknown>): Alert | null {
  const symbol = typeof m['symbol'] === 'string' ? m['symbol'].trim().toUpperCase() : null;
  const pattern = m['pattern'] ?? m['pattern_name'] ?? m['pattern_type'];
  if (!symbol || typeof pattern !== 'string') return null;
  const rawId = m['event_id'] ?? m['id'];
  const id = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : `${symbol}-${received}`;
  const explicit = typeof m['tier'] === 'string' ? m['tier'].toUpperCase() : '';
  const timeframe = m['timeframe'] ?? m['interval'];
  const tf = typeof timeframe === 'string' ? timeframe : '';
  const tier = (TIERS.has(explicit) ? explicit : /^\d*(m|min|h|hourly)$/i.test(tf) ? 'INTRADAY' : 'DAILY') as Alert['tier'];
  return { id, eventId: id, symbol, pattern, confidence: Number(m['confidence']), tier, metadata: m };
}

const subscriptionType = schema.getSubscriptionType() as GraphQLObjectType;
const field = subscriptionType.getFields()['patternAlert'] as unknown as GraphQLFieldConfig<
  unknown,
  unknown,
  { filter?: { symbols?: string[] } }
>;
field.subscribe = (_root, args) => subscribe(args.filter?.symbols);
field.resolve = (alert) => alert;
const queryField = (schema.getQueryType() as GraphQLObjectType).getFields()['subscribers'] as unknown as GraphQLFieldConfig<
  unknown,
  unknown
>;
queryField.resolve = () => listeners.size;

const redis = new Redis(redisUrl);
let subscribed = false;
redis.on('message', (_channel: string, message: string) => {
  received++;
  let alert: Alert | null = null;
  try {
    const parsed = JSON.parse(message) as unknown;
    if (parsed && typeof parsed === 'object') alert = toAlert(parsed as Record<string, unknown>);
  } catch {
    alert = null;
  }
  if (!alert) {
    badMessages++;
    return;
  }
  for (const l of listeners) {
    if (l.symbols && !l.symbols.has(alert.symbol)) continue;
    if (l.wake) {
      const wake = l.wake;
      l.wake = null;
      wake({ value: alert, done: false });
    } else l.queue.push(alert);
  }
});

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res
      .writeHead(subscribed ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: subscribed ? 'ok' : 'starting' }));
  } else if (req.url === '/stats') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ subscribers: listeners.size, received, badMessages }));
  } else res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/graphql' });
const ws = useServer({ schema }, wss);

await redis.subscribe(channel);
subscribed = true;
await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

const stop = async () => {
  for (const socket of wss.clients) socket.close(1001, 'going away');
  await ws.dispose();
  server.close();
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
