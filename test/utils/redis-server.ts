import { spawn, type ChildProcess } from 'node:child_process';
import type { Disposers } from './env.js';
import { freePort } from './resources.js';

export interface PrivateRedis {
  port: number;
  url: string;
  child: ChildProcess;
  /** SIGKILLs the server and resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * A throwaway `redis-server` (from the PATH) on `port` (a free one if not given), without
 * persistence, for tests that take Redis away. The disposer SIGKILLs it if still alive.
 */
export async function startPrivateRedis(disposers: Disposers, port?: number): Promise<PrivateRedis> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  };
  disposers.add(kill);

  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on port ${p} not ready in 5 s:\n${output}`)), 5_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${p} exited before it was ready:\n${output}`));
    });
  });
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout.resume();
  child.stderr.resume();
  return { port: p, url: `redis://127.0.0.1:${p}`, child, kill };
}
