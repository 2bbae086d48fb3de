import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { useRedis } from '../../helpers/given-redis.js';
import { bodyOf, EdgeClient, givenAuthz, tokenFor, xfccFor, type CheckResponse, type RunningAuthz } from './given-authz.js';

const WRITE = '/check/v1/tenants/acme/items/i1/ratings';

/** Polls `probe` until it returns true or `deadlineMs` passes; no fixed sleeps. */
async function eventually(what: string, probe: () => Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function metric(svc: RunningAuthz, name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${svc.adminPort}`).get('/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/**
 * Redis dies in the middle of a run. In `local` mode the service keeps limiting with in-process
 * buckets and never answers 5xx, then goes back to Redis by itself; in `closed` mode it answers
 * 503 `unavailable` until Redis is back.
 */
describe('authz check: Redis failure modes', () => {
  const redis = useRedis();

  async function writer(svc: RunningAuthz, edge: EdgeClient, user: string): Promise<() => Promise<CheckResponse>> {
    const token = await tokenFor(svc.pki, { sub: user, tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'enterprise' });
    const xfcc = xfccFor(svc.pki, 'client-alice');
    return () => edge.check('POST', WRITE, { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfcc });
  }

  describe('in local mode', () => {
    let svc: RunningAuthz;
    let edge: EdgeClient;

    before(async () => {
      svc = await givenAuthz({ env: { REDIS_URL: redis().url, RATE_LIMIT_FAILURE_MODE: 'local' } });
      assert.equal(svc.config.redis?.url.protocol, 'rediss:', 'over the TLS connection (the Redis has no plaintext port)');
      edge = await EdgeClient.create(svc);
    });

    after(async () => {
      edge.close();
      await svc.close();
    });

    it('keeps limiting without a 5xx while Redis is down and uses Redis again after its restart', async () => {
      const before = await writer(svc, edge, 'carol');
      assert.equal((await before()).status, 200);
      assert.ok(Number(await redis().command('DBSIZE')) > 0, 'charged in Redis while it is up');

      await redis().kill();
      const during = await writer(svc, edge, 'dave');
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await during();
        statuses.push(res.status);
        if (res.status !== 200) assert.equal(res.json().error, 'rate_limited');
      }
      assert.ok(statuses.every((s) => s === 200 || s === 429), `only 200 and 429 while Redis is down: ${statuses.join(',')}`);
      assert.ok(statuses.includes(429), 'the in-process buckets still limit the user');
      assert.ok((await metric(svc, 'authz_bucket_store_errors_total')) > 0);
      const ready = await request(`http://127.0.0.1:${svc.adminPort}`).get('/readyz');
      assert.equal(ready.status, 200, 'local mode can still decide, so it stays ready');

      await redis().restart();
      const after = await writer(svc, edge, 'erin');
      await eventually('the Redis store to be used again', async () => {
        const res = await after();
        assert.ok(res.status === 200 || res.status === 429, `status ${res.status}`);
        return Number(await redis().command('DBSIZE')) > 0;
      });
      assert.equal(await metric(svc, 'authz_bucket_store_degraded'), 0);
    });
  });

  describe('in closed mode', () => {
    let svc: RunningAuthz;
    let edge: EdgeClient;

    before(async () => {
      svc = await givenAuthz({ env: { REDIS_URL: redis().url, RATE_LIMIT_FAILURE_MODE: 'closed' } });
      edge = await EdgeClient.create(svc);
    });

    after(async () => {
      edge.close();
      await svc.close();
    });

    it('returns 503 unavailable while Redis is down and allows again once it is back', async () => {
      const write = await writer(svc, edge, 'frank');
      await eventually('Redis to be connected', async () => (await write()).status === 200);

      await redis().kill();
      for (let i = 0; i < 3; i++) {
        const res = await write();
        assert.equal(res.status, 503);
        assert.equal(res.headers['content-type'], 'application/json');
        assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'request_id']);
        assert.equal(res.json().error, 'unavailable');
        assert.equal(res.headers['x-zt-subject'], undefined);
      }
      const ready = await request(`http://127.0.0.1:${svc.adminPort}`).get('/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(bodyOf(ready).failing, ['buckets']);

      await redis().restart();
      await eventually('checks to be allowed again', async () => (await write()).status === 200);
    });
  });
});
