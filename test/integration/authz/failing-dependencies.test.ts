import assert from 'node:assert/strict';
import request from 'supertest';
import type { BucketStore } from '../../../src/authz/buckets/bucket-store.js';
import { MemoryBucketStore } from '../../../src/authz/buckets/token-bucket-memory.js';
import { givenData, type TestData } from './given-data.js';
import { ALICE, bodyOf, givenAuthz, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const WRITE = '/check/v1/tenants/acme/items/i1/ratings';

/**
 * The service fails closed: a policy bug in the bucket specs and an unexpected error inside a
 * check both become 403 `policy_error` with the usual JSON body, never a 5xx or library text, and
 * the cause is logged.
 */
describe('authz check: failing dependencies fail closed', () => {
  async function write(svc: RunningAuthz): Promise<request.Response> {
    const edge = await svc.pki.tls('edge-us-east');
    return request(svc.url)
      .post(WRITE)
      .ca(edge.ca)
      .cert(edge.cert)
      .key(edge.key)
      .set('authorization', `Bearer ${await tokenFor(svc.pki, ALICE)}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
  }

  describe('when the policy data asks for a bucket cost above its capacity', () => {
    let data: TestData;
    let svc: RunningAuthz;

    before(async () => {
      data = await givenData((d) => {
        d.limits.user_write = { capacity: 5, refill_per_s: 5, cost: 10 };
      });
      svc = await givenAuthz({ env: { POLICY_DATA: data.path } });
    });

    after(async () => {
      await svc.close();
      await data.cleanup();
    });

    it('returns 403 policy_error and logs the bucket problem', async () => {
      const res = await write(svc);
      assert.equal(res.status, 403);
      assert.equal(bodyOf(res).error, 'policy_error');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const warning = svc.logs.find((l) => l.msg === 'check failed' && l.request_id === bodyOf(res).request_id);
      assert.match(JSON.stringify(warning?.details), /cost must be between 0 and the capacity/);
    });
  });

  describe('when the bucket store throws something unexpected', () => {
    let svc: RunningAuthz;

    before(async () => {
      // The real memory store, with a fault injected into charge: the one way to make a check
      // meet an error no component is meant to throw.
      const real = new MemoryBucketStore();
      const faulty: BucketStore = {
        name: 'faulty',
        charge: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'tokens')")),
        isReady: () => real.isReady(),
        close: () => real.close(),
      };
      svc = await givenAuthz({ deps: { buckets: faulty } });
    });

    after(async () => {
      await svc.close();
    });

    it('returns 403 policy_error without the library text, and logs the cause', async () => {
      const res = await write(svc);
      assert.equal(res.status, 403);
      assert.deepEqual(Object.keys(bodyOf(res)).sort(), ['error', 'request_id']);
      assert.equal(bodyOf(res).error, 'policy_error');
      assert.doesNotMatch(res.text, /Cannot read|tokens|TypeError/);
      const logged = svc.logs.find((l) => l.level === 'error' && l.request_id === bodyOf(res).request_id);
      assert.match(String(logged?.err), /Cannot read properties/);
      const decision = svc.decisions().find((d) => d.request_id === bodyOf(res).request_id);
      assert.equal(decision?.reason, 'policy_error');
      assert.equal(decision?.status, 403);
    });
  });
});
