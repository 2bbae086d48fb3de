/**
 * A bench-only plaintext redis-server, no users and no TLS: the baseline `bench/authz.ts` prices the
 * TLS hop against (how Redis ran before it spoke only mTLS). Nothing but the bench starts one; every
 * test and the stack run Redis through src/stack/redis-server.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../src/shared/listen.js';

export interface PlaintextRedis {
  readonly port: number;
  readonly pid: number | undefined;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPlaintextRedis(parent: string): Promise<PlaintextRedis> {
  const dir = await mkdtemp(join(parent, 'plain-redis-'));
  const port = await freePort('127.0.0.1');
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if ((await client.ping().catch(() => undefined)) === 'PONG') break;
    if (Date.now() > deadline) throw new Error(`the plaintext redis-server on ${port} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: child.pid,
    flush: async () => {
      await client.flushall();
    },
    stop: async () => {
      client.disconnect();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
