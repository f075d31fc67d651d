/**
 * The detection engine as a separate process, for load tests whose system runs in the test's own
 * process: publishing from there would share its event loop and slow what is measured.
 *
 *   pace  <redis url> <channel> <run id> <ms>     a valid detection every <ms>, until "stop" on
 *                                                 stdin; its event id carries the send time
 *                                                 (`<run id>-v<n>-<epoch ms>`); prints `sent <n>`
 *   flood <redis url> <channel> <run id> <count>  <count> distinct garbage messages, pipelined as
 *                                                 fast as Redis takes them; prints `start <epoch ms>`
 *                                                 and `done <epoch ms>`
 */
import { Redis } from 'ioredis';

const [mode, url, channel, runId, arg] = process.argv.slice(2);
const redis = new Redis(url!);

/** Distinct garbage of three kinds: not JSON, JSON without the required fields, a bad symbol. */
export function garbage(run: string, i: number): string {
  switch (i % 3) {
    case 0:
      return `garbage ${run} #${i} {not json`;
    case 1:
      return JSON.stringify({ junk: i, run });
    default:
      return JSON.stringify({ pattern: 'Doji', symbol: `!!${i}!!`, confidence: 0.5, run });
  }
}

if (mode === 'pace') {
  const paceMs = Number(arg);
  let stop = false;
  process.stdin.on('data', (d) => {
    if (d.toString().includes('stop')) stop = true;
  });
  const start = Date.now();
  let n = 0;
  while (!stop) {
    const eventId = `${runId}-v${n++}-${Date.now()}`;
    await redis.publish(channel!, JSON.stringify({ event_id: eventId, pattern: 'Doji', symbol: 'FLOOD', confidence: 0.75 }));
    const wait = start + n * paceMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  console.log(`sent ${n}`);
} else if (mode === 'flood') {
  const count = Number(arg);
  const CHUNK = 5_000;
  console.log(`start ${Date.now()}`);
  for (let i = 0; i < count; i += CHUNK) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(count, i + CHUNK); j++) pipe.publish(channel!, garbage(runId!, j));
    await pipe.exec();
  }
  console.log(`done ${Date.now()}`);
} else {
  console.error(`unknown mode ${mode}`);
  process.exitCode = 2;
}
redis.disconnect();
process.stdin.destroy();
