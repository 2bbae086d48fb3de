import assert from 'node:assert/strict';
import { BucketStoreUnavailableError } from '../../../src/authz/buckets/bucket-errors.js';
import type { BucketSpec, ChargeResult } from '../../../src/authz/buckets/bucket-store.js';
import { FailoverBucketStore, type FailureMode } from '../../../src/authz/buckets/failover-store.js';
import { MemoryBucketStore } from '../../../src/authz/buckets/token-bucket-memory.js';
import { RedisBucketStore } from '../../../src/authz/buckets/token-bucket-redis.js';
import { createRedisClient } from '../../../src/shared/redis-client.js';
import { useRedis } from '../../helpers/given-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

interface Observed {
  states: string[];
  primaryErrors: number;
  failureModeDecisions: number;
}

describe('FailoverBucketStore over a real Redis', () => {
  const redis = useRedis();
  const opened: FailoverBucketStore[] = [];

  afterEach(async () => {
    // A test that failed while Redis was paused must not leave it paused for the next one.
    const pid = redis().pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  interface OpenOptions {
    now?: () => number;
    probeIntervalMs?: number;
    commandTimeoutMs?: number;
  }

  /** The Redis store on a client from the one factory, reconnecting quickly after a restart. */
  async function redisStore(commandTimeoutMs: number): Promise<RedisBucketStore> {
    return new RedisBucketStore(createRedisClient({ server: redis().server, identity: await redis().identity('authz'), connectionName: 'zt-test-buckets', commandTimeoutMs, reconnectMaxDelayMs: 50 }));
  }

  async function open(mode: FailureMode, options: OpenOptions = {}): Promise<{ store: FailoverBucketStore; seen: Observed }> {
    const seen: Observed = { states: [], primaryErrors: 0, failureModeDecisions: 0 };
    // Generous unless a test is about timeouts: a stalled test process must not fake an outage.
    const primary = await redisStore(options.commandTimeoutMs ?? 2000);
    // Connected first, so that the hooks see only what the test does, not the initial connect.
    await waitFor('redis to connect', () => (primary.isReady() ? true : undefined));
    const store = new FailoverBucketStore(primary, new MemoryBucketStore({ sweepIntervalMs: 0 }), {
      mode,
      probeIntervalMs: options.probeIntervalMs ?? 100,
      ...(options.now ? { now: options.now } : {}),
      hooks: {
        onStateChange: (state) => void seen.states.push(state),
        onPrimaryError: () => void seen.primaryErrors++,
        onFailureMode: () => void seen.failureModeDecisions++,
      },
    });
    opened.push(store);
    assert.equal((await store.charge([probe()])).source, 'redis');
    return { store, seen };
  }

  let probes = 0;
  function probe(): BucketSpec {
    return { name: 'probe', key: String(probes++), capacity: 1, refillPerS: 1, cost: 1 };
  }

  async function untilRedisAgain(store: FailoverBucketStore): Promise<void> {
    // In closed mode the charges reject until the reconnect; that is the behaviour under test elsewhere.
    const viaRedis = (r: ChargeResult): true | undefined => (r.source === 'redis' ? true : undefined);
    await waitFor('the store to use redis again', () => store.charge([probe()]).then(viaRedis, () => undefined));
  }

  it('keeps limiting with local buckets when redis-server is killed mid-run, and uses Redis again after a restart', async () => {
    const { store, seen } = await open('local');
    const wide: BucketSpec = { name: 'global', key: 'ratings', capacity: 10_000, refillPerS: 1, cost: 1 };
    const results: ChargeResult[] = [];
    let killed: Promise<void> | undefined;
    const client = async (): Promise<void> => {
      for (let i = 0; i < 25; i++) {
        results.push(await store.charge([wide]));
        if (results.length >= 40) {
          killed ??= redis().kill();
          await killed;
        }
      }
    };
    // Any rejection would fail Promise.all: a dead Redis must never surface as an error.
    await Promise.all(Array.from({ length: 8 }, client));
    assert.equal(results.length, 200);
    assert.ok(results.every((r) => r.allowed));
    assert.ok(results.some((r) => r.source === 'redis'));
    assert.equal(results.at(-1)?.source, 'local-fallback');

    const user: BucketSpec = { name: 'user', key: 'alice', capacity: 5, refillPerS: 0.01, cost: 1 };
    for (let i = 0; i < 5; i++) {
      const r = await store.charge([user]);
      assert.equal(r.allowed, true);
      assert.equal(r.source, 'local-fallback');
    }
    const denied = await store.charge([user]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.source, 'local-fallback');
    assert.equal(denied.deniedBy, 'user');
    assert.ok((denied.retryAfterS ?? 0) >= 1);
    assert.deepEqual(seen.states, ['degraded'], 'degraded once, and still degraded');

    await redis().restart();
    await untilRedisAgain(store);
    // The restarted Redis kept nothing (no persistence), so alice is full there.
    const back = await store.charge([user]);
    assert.equal(back.source, 'redis');
    assert.equal(back.buckets[0]?.remaining, 4);
    assert.deepEqual(seen.states, ['degraded', 'primary']);
    assert.ok(seen.failureModeDecisions >= 6);
  });

  it('rejects with BucketStoreUnavailableError (503 unavailable) in closed mode while Redis is down', async () => {
    let now = 0;
    const { store } = await open('closed', { now: () => now, probeIntervalMs: 1000 });
    await redis().kill();
    const bucket: BucketSpec = { name: 'user', key: 'bob', capacity: 5, refillPerS: 1, cost: 1 };
    await assert.rejects(store.charge([bucket]), (err: unknown) => {
      assert.ok(err instanceof BucketStoreUnavailableError);
      assert.equal(err.code, 'unavailable');
      assert.equal(err.status, 503);
      return true;
    });
    assert.equal(store.isReady(), false);
    await redis().restart();
    now += 1000;
    await untilRedisAgain(store);
    assert.equal(store.isReady(), true);
    assert.equal((await store.charge([bucket])).allowed, true);
  });

  it('reports ready only once Redis has been reached, then stays ready through an outage in local mode', async () => {
    await redis().kill();
    const primary = await redisStore(2000);
    const store = new FailoverBucketStore(primary, new MemoryBucketStore({ sweepIntervalMs: 0 }), { mode: 'local' });
    opened.push(store);
    assert.equal(store.isReady(), false, 'not ready before Redis was ever reached');
    await redis().restart();
    await waitFor('the store to be ready', () => (store.isReady() ? true : undefined));
    await redis().kill();
    await waitFor('the client to notice', () => (primary.isReady() ? undefined : true));
    assert.equal(store.isReady(), true, 'local mode keeps deciding, so it stays ready');
    await redis().restart();
  });

  it('allows every request with full buckets in open mode while Redis is down', async () => {
    const { store } = await open('open');
    await redis().kill();
    const bucket: BucketSpec = { name: 'user', key: 'carol', capacity: 2, refillPerS: 0.01, cost: 1 };
    for (let i = 0; i < 5; i++) {
      const r = await store.charge([bucket]);
      assert.equal(r.allowed, true);
      assert.equal(r.source, 'open');
      assert.deepEqual(r.buckets, [{ name: 'user', key: 'carol', capacity: 2, remaining: 2, resetS: 0 }]);
    }
    assert.equal(store.isReady(), true);
  });

  it('pays one command timeout per probe interval while Redis hangs, then returns to Redis', async () => {
    let now = 0;
    const { store, seen } = await open('local', { now: () => now, probeIntervalMs: 1000, commandTimeoutMs: 100 });
    const pid = redis().pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP');
    const bucket: BucketSpec = { name: 'user', key: 'dave', capacity: 3, refillPerS: 0.01, cost: 1 };
    const results: ChargeResult[] = [];
    for (let i = 0; i < 4; i++) results.push(await store.charge([bucket]));
    assert.deepEqual(results.map((r) => r.source), ['local-fallback', 'local-fallback', 'local-fallback', 'local-fallback']);
    assert.deepEqual(results.map((r) => r.allowed), [true, true, true, false]);
    // Only the first charge went to Redis and timed out; the rest skipped it until the next probe.
    assert.equal(seen.primaryErrors, 1);

    process.kill(pid, 'SIGCONT');
    assert.equal((await store.charge([probe()])).source, 'local-fallback');
    now += 1000;
    assert.equal((await store.charge([probe()])).source, 'redis');
    assert.deepEqual(seen.states, ['degraded', 'primary']);
  });

  it('passes a policy bug through instead of applying the failure mode', async () => {
    const { store } = await open('open');
    await redis().kill();
    await assert.rejects(store.charge([{ name: 'user', key: 'eve', capacity: 0, refillPerS: 1, cost: 1 }]), { code: 'policy_error' });
  });
});
