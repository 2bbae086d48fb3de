import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisRatingStore } from '../../../src/rating/rating-store-redis.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { useRedis } from '../../helpers/given-redis.js';
import { bodyOf, errorBody, writeBody } from './response-shapes.js';
import { waitFor } from '../../helpers/wait-for.js';
import { behavesLikeTheRatingApi } from './rating-api-suite.js';
import { ALICE, ratingsPath, startApi, ztHeaders, type RunningApi } from './rating-harness.js';
import { recordsIn, storedRatingIn } from './stored-in-redis.js';

describe('rating API over mTLS with the Redis store', () => {
  const redis = useRedis();
  let pki: TestPki;
  let admin: Redis;

  before(async () => {
    pki = await givenPki();
    admin = await redis().harness();
  });
  after(async () => {
    admin.disconnect();
    await pki.cleanup();
  });

  /** The API over a connected Redis store; closing the API closes the store. */
  async function openRedisApi(): Promise<RunningApi> {
    const store = new RedisRatingStore({ server: redis().server, identity: await redis().identity('rating-api') });
    await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
    return startApi(pki, store);
  }

  behavesLikeTheRatingApi(() => ({
    pki: () => pki,
    open: openRedisApi,
    storedRecords: () => recordsIn(admin),
    storedRating: (_api, key, user) => storedRatingIn(admin, key, user),
  }));

  describe('when Redis fails', () => {
    let api: RunningApi | undefined;
    afterEach(async () => {
      await api?.close();
      api = undefined;
    });

    it('answers 503 unavailable without library text while Redis is down, and works again once it is back', async () => {
      api = await openRedisApi();
      const path = ratingsPath('acme', 'i1');
      await redis().kill();
      await waitFor('the store to notice', () => (api?.store.isReady() ? undefined : true));
      const write = await api.as().post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(write.status, 503);
      assert.deepEqual(bodyOf(errorBody, write), { error: 'unavailable', request_id: write.headers['x-request-id'] });
      assert.doesNotMatch(write.text, /redis|ECONN|stream|connection/i);
      const read = await api.as().get(path).set(ztHeaders(ALICE));
      assert.equal(read.status, 503);
      assert.equal(bodyOf(errorBody, read).error, 'unavailable');
      const logged = api.logs.withMsg('request_failed');
      assert.equal(logged.length, 2);
      assert.equal(logged[0]?.code, 'unavailable');

      await redis().restart();
      await waitFor('the store to reconnect', () => (api?.store.isReady() ? true : undefined));
      const again = await api.as().post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(again.status, 201);
      assert.equal(bodyOf(writeBody, again).aggregate.count, 1, 'the write refused during the outage was not stored');
    });
  });
});
