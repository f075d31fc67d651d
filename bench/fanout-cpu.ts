/**
 * CPU per delivery of the API's fan-out path, in one process and without sockets: the real live
 * hub, schema, resolvers and shared execution, `SUBS` patternAlert subscribers each pulling the
 * next event as graphql-ws does (after the previous frame), fed `EVENTS` live detections through
 * an in-memory stand-in for the Redis pub/sub. Runs with and without the subscription metrics
 * (`patternwire_subscriptions`, `patternwire_delivery_latency_seconds`), alternating, and prints
 * the medians: what the metrics cost per frame, apart from the noise of a shared machine that the
 * end-to-end benchmark (`npm run bench`) cannot see through.
 *
 *   npx tsx bench/fanout-cpu.ts [runs]
 */
import { parse } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { subscriptionMetrics } from '../src/api/api-metrics.js';
import { createLiveHub } from '../src/api/live-hub.js';
import { resolvers } from '../src/api/resolvers.js';
import { useSharedSubscriptionExecution } from '../src/api/shared-execution.js';
import { deliveryLatency } from '../src/metrics/metrics.js';
import { decode, encode } from '../src/pubsub/messages.js';
import { typeDefs } from '../src/schema/graphql.js';
import { compareAlternating, cpuPerDelivery, memoryPubSub, openSubscriptions } from './lib/in-process.js';
import { storedDetection } from '../test/utils/detections.js';

const SUBS = 200;
const EVENTS = 500;
const RUNS = Number(process.argv[2] ?? 8);

/** CPU nanoseconds per delivery. */
async function run(withMetrics: boolean): Promise<number> {
  const pubsub = memoryPubSub();
  const hub = await createLiveHub({ pubsub, queueLimit: 100_000 });
  const yoga = createYoga({
    schema: createSchema({ typeDefs, resolvers }),
    plugins: [useSharedSubscriptionExecution(withMetrics ? subscriptionMetrics() : undefined)],
  });
  const document = parse('subscription { patternAlert { id eventId symbol pattern confidence tier } }');
  const iterators = await openSubscriptions(yoga, document, SUBS, { hub, onSlowConsumer: () => undefined });
  const ns = await cpuPerDelivery(iterators, EVENTS, (n) => {
    const wire = encode('patternAlert', storedDetection(n));
    pubsub.emit('patternAlert', decode('patternAlert', JSON.parse(JSON.stringify(wire)) as typeof wire));
  });
  hub.close();
  return ns;
}

await compareAlternating({ 'without metrics': () => run(false), 'with metrics': () => run(true) }, RUNS, 'delivery');
const samples = deliveryLatency.get().values.find((v) => v.metricName.endsWith('_count'))!.value;
console.log(`${SUBS} subscribers × ${EVENTS} events per run; delivery-latency samples taken: ${samples}`);
