/**
 * Micro-benchmark of the bucket stores: open-loop load at a fixed rate (the 2,000 checks/s target)
 * with three buckets per request, as a rating write carries (user, tenant tier, global). Prints a
 * table and writes JSON under bench/results/. Starts a throwaway TLS-only
 * redis-server on loopback (src/stack/redis-server.ts), signed in to as authz. A script, not a test: nothing here asserts a timing.
 *
 *   npm run bench:buckets -- [--rate 2000] [--seconds 5]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import type { BucketSpec, BucketStore } from '../src/authz/buckets/bucket-store.js';
import { FailoverBucketStore } from '../src/authz/buckets/failover-store.js';
import { MemoryBucketStore } from '../src/authz/buckets/token-bucket-memory.js';
import { RedisBucketStore } from '../src/authz/buckets/token-bucket-redis.js';
import { runCli } from '../src/cli/run.js';
import { createRedisClient } from '../src/shared/redis-client.js';
import { givenRedis, type GivenRedis } from '../test/helpers/given-redis.js';
import { positiveInt } from './cli-options.js';

interface Row {
  store: string;
  rate: number;
  requests: number;
  allowed: number;
  errors: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  achievedPerS: number;
}

/** The run's load: charges per second, for how long per store. */
interface Load {
  readonly rate: number;
  readonly seconds: number;
}

// Limits wide enough that most requests are admitted: the admitting path is the one that writes.
function specsFor(i: number): BucketSpec[] {
  return [
    { name: 'user', key: `u${i % 1000}`, capacity: 5, refillPerS: 5, cost: 1 },
    { name: 'tenant', key: `t${i % 10}`, capacity: 6000, refillPerS: 1000, cost: 1 },
    { name: 'global', key: 'ratings', capacity: 10_000, refillPerS: 10_000, cost: 1 },
  ];
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** JIT, script loading and connection set-up are not what the table is about. */
async function warmUp(store: BucketStore): Promise<void> {
  for (let i = 0; i < 2000; i++) await store.charge(specsFor(i));
}

/** Sends `rate` charges per second for `seconds`, on a 1 ms tick that catches up with the schedule. */
async function run({ rate, seconds }: Load, label: string, store: BucketStore): Promise<Row> {
  await warmUp(store);
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let allowed = 0;
  let errors = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const fire = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < due) {
        const i = sent++;
        const t0 = performance.now();
        store.charge(specsFor(i)).then(
          (r) => {
            latencies[i] = (performance.now() - t0) * 1000;
            if (r.allowed) allowed++;
            if (++done === total) resolve();
          },
          () => {
            latencies[i] = (performance.now() - t0) * 1000;
            errors++;
            if (++done === total) resolve();
          },
        );
      }
      if (sent < total) setTimeout(fire, 1);
    };
    fire();
  });
  const elapsedS = (performance.now() - start) / 1000;
  latencies.sort();
  return {
    store: label,
    rate,
    requests: total,
    allowed,
    errors,
    p50Us: Math.round(quantile(latencies, 0.5)),
    p99Us: Math.round(quantile(latencies, 0.99)),
    maxUs: Math.round(latencies[total - 1] ?? 0),
    achievedPerS: Math.round(total / elapsedS),
  };
}

async function waitReady(store: BucketStore): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!store.isReady()) {
    if (Date.now() > deadline) throw new Error(`${store.name} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function main(load: Load): Promise<void> {
  // A throwaway TLS-only redis-server with its own test PKI; the store signs in as authz.
  const owned: GivenRedis = await givenRedis();
  const rows: Row[] = [];
  try {
    const memory = new MemoryBucketStore();
    rows.push(await run(load, 'memory', memory));
    await memory.close();

    // The service's client: the one factory, and RATE_LIMIT_REDIS_TIMEOUT_MS's default.
    const redis = new RedisBucketStore(createRedisClient({ server: owned.server, identity: await owned.identity('authz'), connectionName: 'zt-bench-buckets', commandTimeoutMs: 50 }));
    await waitReady(redis);
    rows.push(await run(load, 'redis', redis));
    const failover = new FailoverBucketStore(redis, new MemoryBucketStore(), { mode: 'local' });
    rows.push(await run(load, 'redis+local', failover));
    await failover.close();
  } finally {
    await owned.stop();
  }

  console.table(rows);
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/buckets-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(file, `${JSON.stringify({ node: process.version, rate: load.rate, seconds: load.seconds, rows }, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

const program = new Command('bench:buckets')
  .description(
    'Charges three buckets per request at a fixed rate through the memory store, the Redis store (a throwaway TLS-only redis-server, signed in to as authz) and the Redis store behind the failover wrapper; prints p50/p99 and writes JSON under bench/results/.',
  )
  .option('--rate <n>', 'charges per second', positiveInt('--rate'), 2000)
  .option('--seconds <n>', 'measured seconds per store', positiveInt('--seconds'), 5)
  .action(async (load: Load) => main(load));

process.exitCode = await runCli(program, process.argv);
