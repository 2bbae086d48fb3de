import assert from 'node:assert/strict';
import { MemoryRatingFeed } from '../../../src/rating/feed/rating-feed-memory.js';
import { RedisRatingFeed } from '../../../src/rating/feed/rating-feed-redis.js';
import type { RatingFeed } from '../../../src/rating/feed/rating-feed.js';
import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import { RedisRatingStore } from '../../../src/rating/rating-store-redis.js';
import type { Score } from '../../../src/rating/aggregate.js';
import type { RatingChange, RatingStore } from '../../../src/rating/rating-store.js';
import { AppError } from '../../../src/shared/errors.js';
import { useRedis } from '../../helpers/given-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

const I1 = { tenant: 'acme', item: 'i1' };

/** Every change a subscriber hears, and a way to wait for the n-th. */
function collector(): { changes: RatingChange[]; listener: (c: RatingChange) => void; until(n: number): Promise<RatingChange[]> } {
  const changes: RatingChange[] = [];
  return {
    changes,
    listener: (c) => changes.push(c),
    until: (n) => waitFor(`${n} changes (have ${changes.length})`, () => (changes.length >= n ? changes : undefined), 15_000),
  };
}

describe('rating feeds: the store\'s changes, heard by subscribers', () => {
  describe('in memory', () => {
    it('hands every write\'s change to the item\'s subscribers, in seq order, and stops after unsubscribe', async () => {
      const feed = new MemoryRatingFeed();
      const store = new MemoryRatingStore((key, change) => feed.publish(key, change));
      const a = collector();
      const other = collector();
      const sub = await feed.subscribe(I1, a.listener);
      await feed.subscribe({ tenant: 'acme', item: 'i2' }, other.listener);
      await store.put(I1, 'alice', { score: 4 });
      await store.put(I1, 'alice', { score: 2 });
      await store.remove(I1, 'alice');
      await store.remove(I1, 'alice');
      assert.deepEqual(
        a.changes.map((c) => [c.seq, c.change, c.aggregate.count, c.aggregate.sum]),
        [
          [1, 'created', 1, 4],
          [2, 'replaced', 1, 2],
          [3, 'deleted', 0, 0],
        ],
        'a remove that changes nothing publishes nothing',
      );
      assert.deepEqual(other.changes, []);
      sub.unsubscribe();
      await store.put(I1, 'bob', { score: 1 });
      assert.equal(a.changes.length, 3);
    });

    it('keeps a failing subscriber away from the writer and from the other subscribers', async () => {
      const failures: unknown[] = [];
      const feed = new MemoryRatingFeed((err) => failures.push(err));
      const store = new MemoryRatingStore((key, change) => feed.publish(key, change));
      const good = collector();
      await feed.subscribe(I1, () => {
        throw new Error('a broken subscriber');
      });
      await feed.subscribe(I1, good.listener);
      assert.equal((await store.put(I1, 'alice', { score: 5 })).created, true);
      assert.equal(good.changes.length, 1);
      assert.equal(failures.length, 1);
    });
  });

  describe('over Redis pub/sub, across replicas', () => {
    const redis = useRedis();
    const opened: { close(): Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((x) => x.close()));
    });

    async function store(): Promise<RatingStore> {
      const s = new RedisRatingStore({ server: redis().server, identity: await redis().identity('rating-api') });
      opened.push(s);
      await waitFor('the store to connect', () => (s.isReady() ? true : undefined));
      return s;
    }

    async function feed(): Promise<RatingFeed & { gaps: number }> {
      const f = Object.assign(new RedisRatingFeed({ server: redis().server, identity: await redis().identity('rating-api') }), { gaps: 0 });
      f.onGap(() => (f.gaps += 1));
      opened.push(f);
      await waitFor('the feed to connect', () => (f.isReady() ? true : undefined));
      return f;
    }

    it('delivers the changes of 3 writing replicas to subscribers of 2 others, all in seq order, on zt:rating-events:<tenant>:<item>', async () => {
      const writers = await Promise.all([store(), store(), store()]);
      const [f1, f2] = await Promise.all([feed(), feed()]);
      const [a, b] = [collector(), collector()];
      await f1.subscribe(I1, a.listener);
      await f2.subscribe(I1, b.listener);
      const admin = await redis().harness();
      try {
        const channels = (await admin.pubsub('CHANNELS', 'zt:rating-events:*')) as string[];
        assert.deepEqual(channels, ['zt:rating-events:acme:i1']);
      } finally {
        admin.disconnect();
      }
      const writes = Array.from({ length: 150 }, (_, i) => writers[i % 3]!.put(I1, `u${i % 40}`, { score: ((i % 5) + 1) as Score }));
      await Promise.all(writes);
      for (const c of [a, b]) {
        const heard = await c.until(150);
        assert.deepEqual(heard.map((x) => x.seq), Array.from({ length: 150 }, (_, i) => i + 1), 'every change once, in order');
      }
      const last = a.changes.at(-1);
      assert.deepEqual(last?.aggregate, await writers[0].aggregate(I1), 'the last change carries the item\'s totals');
      assert.deepEqual(await writers[1].snapshot(I1), { aggregate: last?.aggregate, seq: 150 });
    });

    it('tells subscribers of a gap after a lost connection, and delivers again once back', async () => {
      const writer = await store();
      const f = await feed();
      const c = collector();
      await f.subscribe(I1, c.listener);
      await writer.put(I1, 'alice', { score: 3 });
      await c.until(1);
      await redis().restart();
      await waitFor('the gap to be reported', () => (f.gaps > 0 ? true : undefined), 15_000);
      await waitFor('the store to reconnect', () => (writer.isReady() ? true : undefined), 15_000);
      await writer.put(I1, 'bob', { score: 5 });
      const heard = await c.until(2);
      assert.equal(heard[1]?.change, 'created');
    });

    it('refuses a subscription with 503 unavailable while Redis is down', async () => {
      const f = await feed();
      await redis().kill();
      await waitFor('the feed to notice', () => (f.isReady() ? undefined : true));
      await assert.rejects(f.subscribe(I1, () => undefined), (err: unknown) => err instanceof AppError && err.code === 'unavailable' && err.status === 503);
    });

    it('drops the channel once the last local subscriber goes', async () => {
      const f = await feed();
      const one = await f.subscribe(I1, () => undefined);
      const two = await f.subscribe(I1, () => undefined);
      const admin = await redis().harness();
      try {
        one.unsubscribe();
        assert.deepEqual(await admin.pubsub('NUMSUB', 'zt:rating-events:acme:i1'), ['zt:rating-events:acme:i1', 1]);
        two.unsubscribe();
        await waitFor('the unsubscribe', async () => (await admin.pubsub('NUMSUB', 'zt:rating-events:acme:i1'))[1] === 0 || undefined);
      } finally {
        admin.disconnect();
      }
    });
  });
});
