import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisBucketStore } from '../../../src/authz/buckets/token-bucket-redis.js';
import { createRedisClient } from '../../../src/shared/redis-client.js';
import { useRedis } from '../../helpers/given-redis.js';
import { behavesLikeABucketStore, type StoreHarness } from './bucket-store-suite.js';
import { waitFor } from '../../helpers/wait-for.js';

describe('RedisBucketStore', () => {
  const redis = useRedis();
  let admin: Redis;
  const opened: RedisBucketStore[] = [];

  before(async () => {
    admin = await redis().harness();
  });
  // useRedis() stops the server in its own `after`, which runs first: drop the connection, no QUIT.
  after(() => admin.disconnect());
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  async function open(): Promise<RedisBucketStore> {
    // A generous timeout: these tests are about the script, and a stalled test process (GC, module
    // loading) must not turn a slow reply into a failure. Timeouts are covered by the failover tests.
    const store = new RedisBucketStore(createRedisClient({ server: redis().server, identity: await redis().identity('authz'), connectionName: 'zt-test-buckets', commandTimeoutMs: 2000 }));
    opened.push(store);
    await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
    return store;
  }

  async function serverTimeMs(): Promise<number> {
    const [s, us] = await admin.time();
    return Number(s) * 1000 + Number(us) / 1000;
  }

  behavesLikeABucketStore(
    (): StoreHarness => ({
      open,
      nowMs: serverTimeMs,
      pass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      beforeRequest: () => undefined,
    }),
  );

  it('stores a bucket as a hash under zt:bucket:<name>:<key> that expires when it would be full', async () => {
    const store = await open();
    const before = Date.now();
    await store.charge([{ name: 'user', key: 'alice', capacity: 10, refillPerS: 5, cost: 3 }]);
    const pttl = await admin.pttl('zt:bucket:user:alice');
    const waited = Date.now() - before;
    // 3 tokens at 5/s: full again 600 ms after the charge.
    assert.ok(pttl <= 600 && pttl >= 600 - waited - 1, `PTTL ${pttl} ms, ${waited} ms after the charge`);
    const hash = await admin.hgetall('zt:bucket:user:alice');
    assert.equal(Number(hash.tokens), 7);
    assert.ok(Number.isFinite(Number(hash.ts)));
  });

  it('lets an expired bucket read as full', async () => {
    const store = await open();
    const bucket = { name: 'user', key: 'quick', capacity: 10, refillPerS: 200, cost: 4 };
    await store.charge([bucket]);
    await waitFor('the key to expire', async () => ((await admin.exists('zt:bucket:user:quick')) === 0 ? true : undefined));
    const r = await store.charge([bucket]);
    assert.equal(r.buckets[0]?.remaining, 6);
  });

  it('writes nothing for a denied request', async () => {
    const store = await open();
    const user = { name: 'user', key: 'alice', capacity: 5, refillPerS: 0.01, cost: 1 };
    const global = { name: 'global', key: 'ratings', capacity: 1, refillPerS: 0.01, cost: 1 };
    await store.charge([user, global]);
    const userBefore = await admin.hgetall('zt:bucket:user:alice');
    const globalBefore = await admin.hgetall('zt:bucket:global:ratings');
    const denied = await store.charge([user, global]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.deniedBy, 'global');
    assert.deepEqual(await admin.hgetall('zt:bucket:user:alice'), userBefore);
    assert.deepEqual(await admin.hgetall('zt:bucket:global:ratings'), globalBefore);
  });

  it('keeps no key for a bucket that stays full', async () => {
    const store = await open();
    const r = await store.charge([{ name: 'user', key: 'idle', capacity: 3, refillPerS: 1, cost: 0 }]);
    assert.equal(r.allowed, true);
    assert.equal(await admin.exists('zt:bucket:user:idle'), 0);
  });

  it('shares buckets between two stores, as between two authz replicas', async () => {
    const a = await open();
    const b = await open();
    const bucket = { name: 'tenant', key: 'acme', capacity: 3, refillPerS: 0.01, cost: 1 };
    const results = await Promise.all([a, b, a, b, a, b].map((s) => s.charge([bucket])));
    assert.equal(results.filter((r) => r.allowed).length, 3);
    assert.ok(results.every((r) => r.source === 'redis'));
  });

  it('reloads its script after SCRIPT FLUSH', async () => {
    const store = await open();
    const bucket = { name: 'user', key: 'alice', capacity: 5, refillPerS: 0.01, cost: 1 };
    await store.charge([bucket]);
    assert.equal(await admin.script('FLUSH'), 'OK');
    const r = await store.charge([bucket]);
    assert.equal(r.allowed, true);
    assert.equal(r.buckets[0]?.remaining, 3);
  });
});
