import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { useRedis } from '../../helpers/given-redis.js';
import { givenData, type TestData } from './given-data.js';
import { ALICE, EdgeClient, givenAuthz, tokenFor, xfccFor, type CheckResponse, type RunningAuthz } from './given-authz.js';

const WRITE = '/check/v1/tenants/acme/items/i1/ratings';

/**
 * Token buckets through the service with the Redis store: the user write limit, exactness under
 * concurrency, and all-or-nothing charging. The store's own exactness is covered at store level
 * (test/integration/buckets); these check that the service charges what the policy names.
 */
describe('authz check: rate limits with Redis', () => {
  const redis = useRedis();

  async function started(data?: TestData): Promise<{ svc: RunningAuthz; edge: EdgeClient; write: (token: string) => Promise<CheckResponse> }> {
    const svc = await givenAuthz({ env: { REDIS_URL: redis().url, ...(data ? { POLICY_DATA: data.path } : {}) } });
    const edge = await EdgeClient.create(svc);
    const xfcc = xfccFor(svc.pki, 'client-alice');
    return { svc, edge, write: (token) => edge.check('POST', WRITE, { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfcc }) };
  }

  describe('with the demo limits', () => {
    let svc: RunningAuthz;
    let edge: EdgeClient;
    let write: (token: string) => Promise<CheckResponse>;

    before(async () => {
      ({ svc, edge, write } = await started());
    });

    after(async () => {
      edge.close();
      await svc.close();
    });

    it('returns 429 rate_limited on the 6th write within a second, and allows again after retry-after', async () => {
      const token = await tokenFor(svc.pki, ALICE);
      const answers: CheckResponse[] = [];
      for (let i = 0; i < 6; i++) answers.push(await write(token));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 200, 200, 429],
      );
      assert.equal(answers[0]!.headers['x-ratelimit-remaining'], '4');
      const denied = answers[5]!;
      assert.equal(denied.json().error, 'rate_limited');
      assert.equal(denied.headers['content-type'], 'application/json');
      // 5 tokens/s: the next token is at most 200 ms away, so the whole-second answer is 1.
      assert.equal(denied.headers['retry-after'], '1');
      assert.equal(denied.headers['x-ratelimit-limit'], '5');
      assert.equal(denied.headers['x-ratelimit-remaining'], '0');
      assert.equal(denied.headers['x-ratelimit-reset'], '1');
      await sleep(Number(denied.headers['retry-after']) * 1000);
      const again = await write(token);
      assert.equal(again.status, 200, 'waiting the announced retry-after is enough');
      assert.ok(Number(await redis().command('DBSIZE')) > 0, 'the buckets live in Redis');
    });
  });

  describe('with a user bucket that does not refill during the test', () => {
    let data: TestData;
    let svc: RunningAuthz;
    let edge: EdgeClient;
    let write: (token: string) => Promise<CheckResponse>;

    before(async () => {
      data = await givenData((d) => {
        d.limits.user_write = { capacity: 5, refill_per_s: 0.001, cost: 1 };
      });
      ({ svc, edge, write } = await started(data));
    });

    after(async () => {
      edge.close();
      await svc.close();
      await data.cleanup();
    });

    it('allows exactly the capacity out of 20 concurrent writes by one user', async () => {
      const token = await tokenFor(svc.pki, ALICE);
      const answers = await Promise.all(Array.from({ length: 20 }, () => write(token)));
      const statuses = answers.map((a) => a.status);
      assert.equal(statuses.filter((s) => s === 200).length, 5);
      assert.equal(statuses.filter((s) => s === 429).length, 15);
      for (const a of answers.filter((x) => x.status === 429)) assert.equal(a.json().error, 'rate_limited');
      const remaining = answers.filter((a) => a.status === 200).map((a) => a.headers['x-ratelimit-remaining']);
      assert.deepEqual(remaining.sort(), ['0', '1', '2', '3', '4'], 'each allowed write saw its own token');
    });
  });

  describe('with a tiny global bucket', () => {
    let data: TestData;
    let svc: RunningAuthz;
    let edge: EdgeClient;
    let write: (token: string) => Promise<CheckResponse>;

    before(async () => {
      data = await givenData((d) => {
        d.limits.global = { capacity: 2, refill_per_s: 0.001, cost: 1 };
        d.limits.user_write = { capacity: 5, refill_per_s: 0.001, cost: 1 };
      });
      ({ svc, edge, write } = await started(data));
    });

    after(async () => {
      edge.close();
      await svc.close();
      await data.cleanup();
    });

    it('takes nothing from the user bucket when the global bucket denies', async () => {
      const token = await tokenFor(svc.pki, ALICE);
      const answers: CheckResponse[] = [];
      for (let i = 0; i < 5; i++) answers.push(await write(token));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 429, 429, 429],
      );
      // The deny names the global bucket: it is the one the client waits on.
      assert.equal(answers[2]!.headers['x-ratelimit-limit'], '2');
      assert.equal(answers[2]!.headers['x-ratelimit-remaining'], '0');
      // The tenant bucket refills at 1/s and is left out; global and user do not refill here.
      const logged = answers.map((a) => {
        const buckets = svc.decisions().find((d) => d.request_id === a.headers['x-request-id'])?.buckets as Record<string, number> | undefined;
        return { global: buckets?.global, user: buckets?.user };
      });
      assert.deepEqual(logged, [
        { global: 1, user: 4 },
        { global: 0, user: 3 },
        { global: 0, user: 3 },
        { global: 0, user: 3 },
        { global: 0, user: 3 },
      ]);
    });
  });
});
