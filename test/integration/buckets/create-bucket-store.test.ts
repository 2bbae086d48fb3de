import assert from 'node:assert/strict';
import { createBucketStore } from '../../../src/authz/buckets/create-bucket-store.js';
import type { BucketSpec, BucketStore, ChargeResult } from '../../../src/authz/buckets/bucket-store.js';
import { MemoryBucketStore } from '../../../src/authz/buckets/token-bucket-memory.js';
import { createLogger } from '../../../src/shared/logger.js';
import { useRedis } from '../../helpers/given-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

describe('createBucketStore', () => {
  const redis = useRedis();
  const opened: BucketStore[] = [];

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('uses the memory store when no REDIS_URL is set', async () => {
    const store = createBucketStore({ redis: undefined, identity: await redis().identity('authz'), failureMode: 'local', redisCommandTimeoutMs: 50 });
    opened.push(store);
    assert.ok(store instanceof MemoryBucketStore);
    const r = await store.charge([{ name: 'user', key: 'alice', capacity: 5, refillPerS: 5, cost: 1 }]);
    assert.equal(r.source, 'memory');
  });

  it('puts Redis behind the failure mode and logs the outage and the recovery once each', async () => {
    const lines: string[] = [];
    const logger = createLogger('authz', { destination: { write: (line: string) => void lines.push(line) } });
    const store = createBucketStore({ redis: redis().server, identity: await redis().identity('authz'), failureMode: 'local', redisCommandTimeoutMs: 50, logger });
    opened.push(store);
    assert.equal(store.name, 'redis+local');
    let n = 0;
    const charge = (): Promise<ChargeResult> => {
      const spec: BucketSpec = { name: 'user', key: `u${n++}`, capacity: 5, refillPerS: 5, cost: 1 };
      return store.charge([spec]);
    };
    await waitFor('redis to be used', async () => ((await charge()).source === 'redis' ? true : undefined));
    lines.length = 0;

    await redis().kill();
    assert.equal((await charge()).source, 'local-fallback');
    assert.equal((await charge()).source, 'local-fallback');
    await redis().restart();
    await waitFor('redis to be used again', async () => ((await charge()).source === 'redis' ? true : undefined));

    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; mode?: string });
    const transitions = logged.filter((l) => l.level !== 'debug').map((l) => [l.level, l.msg]);
    assert.deepEqual(transitions, [
      ['warn', 'redis unavailable: rate limiting follows the failure mode'],
      ['info', 'redis available again: rate limiting uses redis'],
    ]);
    assert.equal(logged.find((l) => l.level === 'warn')?.mode, 'local');
  });
});
