import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { Disposers } from './env.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Redis Cluster uses `port + 10000` for its node-to-node bus. */
const BUS_OFFSET = 10_000;

export interface ClusterNode {
  host: string;
  port: number;
  child: ChildProcess;
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** `host:port,host:port,…`: the value of REDIS_CLUSTER_NODES. */
  nodeList: string;
  /** redis://host:port of the first node (credentials-free). */
  url: string;
  dir: string;
  /** A plain connection to each node (for SCAN, CLUSTER KEYSLOT, …), closed by the disposer. */
  connections: Redis[];
}

async function canListen(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port P with P and P + 10000 both free (the OS's ephemeral range is too high for the bus port). */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(p) || taken.has(p + BUS_OFFSET) || taken.has(p - BUS_OFFSET)) continue;
    if ((await canListen(p)) && (await canListen(p + BUS_OFFSET))) {
      taken.add(p);
      return p;
    }
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function startNode(port: number, dir: string): Promise<ClusterNode> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--cluster-node-timeout',
      '2000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise<ClusterNode>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server (cluster) on ${port} not ready in 5 s:\n${output}`));
    }, 5_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        // Keep draining its output so a chatty server never blocks on a full pipe.
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        child.stdout.resume();
        child.stderr.resume();
        resolve({ host: '127.0.0.1', port, child });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server (cluster) on ${port} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

async function stopNode(node: ClusterNode): Promise<void> {
  const { child } = node;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SHUTDOWN NOSAVE first (an orderly exit); SIGKILL if it is not gone within 2 s.
  const admin = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  admin.on('error', () => undefined);
  await admin
    .connect()
    .then(() => admin.call('SHUTDOWN', 'NOSAVE'))
    .catch(() => undefined);
  admin.disconnect();
  const killer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(killer);
}

/**
 * A throwaway Redis Cluster of `masters` masters and no replicas on free ports, created with
 * `redis-cli --cluster create`, ready (cluster_state:ok on every node, every node knowing every
 * other) when this resolves. The disposer shuts every node down and removes the data directory.
 */
export async function startRedisCluster(disposers: Disposers, { masters = 3 }: { masters?: number } = {}): Promise<RedisCluster> {
  if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
  const dir = await mkdtemp(join(tmpdir(), 'pw-cluster-'));
  const nodes: ClusterNode[] = [];
  const connections: Redis[] = [];
  disposers.add(async () => {
    for (const c of connections) c.disconnect();
    await Promise.all(nodes.map(stopNode));
    await rm(dir, { recursive: true, force: true });
  });

  const taken = new Set<number>();
  while (nodes.length < masters) {
    // A port found free can be taken before redis-server binds it (another suite running): try another.
    for (let attempt = 1; ; attempt++) {
      try {
        nodes.push(await startNode(await freeClusterPort(taken), dir));
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }

  const addresses = nodes.map((n) => `${n.host}:${n.port}`);
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });

  for (const n of nodes) {
    const c = new Redis({ host: n.host, port: n.port, maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    connections.push(c);
  }
  let infos: string[] = [];
  await waitFor(
    async () => {
      infos = await Promise.all(connections.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
      return infos.every(
        (info) =>
          info.includes('cluster_state:ok') &&
          info.includes('cluster_slots_assigned:16384') &&
          info.includes(`cluster_known_nodes:${masters}`),
      );
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'Redis Cluster ok' },
  ).catch(() => {
    throw new Error(`Redis Cluster not ok within 20 s:\n${infos.join('\n---\n')}`);
  });
  return { nodes, nodeList: addresses.join(','), url: `redis://${addresses[0]}`, dir, connections };
}

/** Every key on every master: `SCAN` on each node (a cluster SCAN only sees the node it runs on). */
export async function scanClusterKeys(cluster: RedisCluster, match = '*'): Promise<{ node: string; key: string }[]> {
  const out: { node: string; key: string }[] = [];
  for (const [i, c] of cluster.connections.entries()) {
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) out.push({ node: `${cluster.nodes[i]!.host}:${cluster.nodes[i]!.port}`, key });
    } while (cursor !== '0');
  }
  return out;
}

/** The hash slot Redis itself computes for `key` (CLUSTER KEYSLOT). */
export async function keySlot(cluster: RedisCluster, key: string): Promise<number> {
  return Number(await cluster.connections[0]!.call('CLUSTER', 'KEYSLOT', key));
}
