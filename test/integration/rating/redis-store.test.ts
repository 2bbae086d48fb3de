import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisRatingStore } from '../../../src/rating/rating-store-redis.js';
import { AppError } from '../../../src/shared/errors.js';
import { useRedis } from '../../helpers/given-redis.js';
import { behavesLikeARatingStore } from './rating-store-suite.js';
import { storedRatingsIn } from './stored-in-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

describe('RedisRatingStore', () => {
  const redis = useRedis();
  let admin: Redis;
  const opened: RedisRatingStore[] = [];
  const I1 = { tenant: 'acme', item: 'i1' };

  before(async () => {
    admin = await redis().harness();
  });
  after(() => {
    admin.disconnect();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  async function open(): Promise<RedisRatingStore> {
    const store = new RedisRatingStore({ server: redis().server, identity: await redis().identity('rating-api') });
    opened.push(store);
    await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
    return store;
  }

  function isUnavailable(err: unknown): boolean {
    return err instanceof AppError && err.code === 'unavailable' && err.status === 503;
  }

  behavesLikeARatingStore(() => ({ open, ratings: (key) => storedRatingsIn(admin, key) }));

  it('keeps a rating as JSON in zt:rating:<tenant>:<item>:users and the totals in :agg', async () => {
    const store = await open();
    await store.put(I1, 'alice', { score: 4, comment: 'ok' });
    await store.put(I1, 'bob', { score: 2 });
    assert.deepEqual((await admin.keys('*')).sort(), ['zt:rating:acme:i1:agg', 'zt:rating:acme:i1:users']);
    assert.deepEqual(JSON.parse((await admin.hget('zt:rating:acme:i1:users', 'alice')) ?? ''), { score: 4, comment: 'ok' });
    // HINCRBY creates a histogram field on first use; a missing one reads as 0. seq counts the changes.
    assert.deepEqual(await admin.hgetall('zt:rating:acme:i1:agg'), { count: '2', sum: '6', '2': '1', '4': '1', seq: '2' });
  });

  it('keeps the comment with the rating, byte for byte', async () => {
    const store = await open();
    const comment = 'ünïcödé "quoted" \\ and\nnewline';
    await store.put(I1, 'alice', { score: 3, comment });
    assert.deepEqual(JSON.parse((await admin.hget('zt:rating:acme:i1:users', 'alice')) ?? ''), { score: 3, comment });
  });

  it('connects through the shared client factory, named zt-rating-store', async () => {
    await open();
    assert.match(String(await admin.client('LIST')), /name=zt-rating-store /);
  });

  it('removes the ratings and the totals when the last rating of an item goes, keeping only its sequence number', async () => {
    const store = await open();
    await store.put(I1, 'alice', { score: 4 });
    await store.remove(I1, 'alice');
    assert.deepEqual(await admin.keys('*'), ['zt:rating:acme:i1:agg']);
    assert.deepEqual(await admin.hgetall('zt:rating:acme:i1:agg'), { seq: '2' });
  });

  it('fails a write over a corrupt stored rating with unavailable and changes nothing', async () => {
    const store = await open();
    await store.put(I1, 'bob', { score: 2 });
    await admin.hset('zt:rating:acme:i1:users', 'alice', 'not json');
    const before = await admin.hgetall('zt:rating:acme:i1:agg');
    await assert.rejects(store.put(I1, 'alice', { score: 5 }), isUnavailable);
    await assert.rejects(store.remove(I1, 'alice'), isUnavailable);
    assert.deepEqual(await admin.hgetall('zt:rating:acme:i1:agg'), before);
    assert.equal(await admin.hget('zt:rating:acme:i1:users', 'alice'), 'not json');
  });

  it('fails every call with unavailable, and says it is not ready, once closed', async () => {
    const store = await open();
    await store.close();
    assert.equal(store.isReady(), false);
    await assert.rejects(store.put(I1, 'alice', { score: 5 }), isUnavailable);
    await assert.rejects(store.aggregate(I1), isUnavailable);
    assert.equal(await admin.dbsize(), 0);
  });
});
