import assert from 'node:assert/strict';
import { loadPolicyEngine } from '../../../src/authz/policy/load-policy-engine.js';
import type { PolicyDecision, PolicyEngine, PolicyInput } from '../../../src/authz/policy/policy-engine.js';
import { aliceCalls, aliceInput, claims, client, dataPath, edge, givenBuiltPolicy, request, wasmPath } from '../../helpers/given-policy.js';

// Every rule of the policy, through the real compiled wasm and the shipped policies/data.json.
describe('the shipped policy evaluated by the wasm engine', () => {
  let engine: PolicyEngine;

  before(async function () {
    this.timeout(120_000);
    await givenBuiltPolicy();
    engine = await loadPolicyEngine({ wasmPath, dataPath });
  });

  const ratings = '/v1/tenants/acme/items/i1/ratings';

  function assertDenied(decision: PolicyDecision, status: number, reason: string): void {
    assert.deepEqual(decision, { allow: false, status, reason, limits: [], upstream_headers: {}, detail: '', tier: '' });
  }

  function assertAllowed(decision: PolicyDecision): void {
    assert.equal(decision.allow, true);
    assert.equal(decision.status, 200);
    assert.equal(decision.reason, 'allowed');
  }

  const bucketNames = (d: PolicyDecision): string[] => d.limits.map((l) => l.name);
  const tenantBucket = (d: PolicyDecision) => d.limits.find((l) => l.name === 'tenant');

  describe('allow', () => {
    it('allows alice to rate an acme item, naming her buckets and the upstream headers', () => {
      assert.deepEqual(engine.evaluate(aliceInput()), {
        allow: true,
        status: 200,
        reason: 'allowed',
        limits: [
          { name: 'global', key: 'global', capacity: 200, refill_per_s: 200, cost: 1 },
          { name: 'tenant', key: 'tenant:acme', capacity: 60, refill_per_s: 1, cost: 1 },
          { name: 'user', key: 'user:acme:alice', capacity: 5, refill_per_s: 5, cost: 1 },
        ],
        upstream_headers: {
          'x-zt-subject': 'alice',
          'x-zt-tenant': 'acme',
          'x-zt-roles': 'rater',
          'x-zt-client': 'spiffe://zt.local/us-east/client/alice',
        },
        detail: '',
        tier: 'free',
      });
    });

    it('joins several roles with commas in the roles header', () => {
      const d = engine.evaluate(aliceCalls('GET', ratings, { roles: ['viewer', 'moderator'] }));
      assertAllowed(d);
      assert.equal(d.upstream_headers['x-zt-roles'], 'viewer,moderator');
    });
  });

  describe('reasons in precedence order', () => {
    it('answers 403 no_client_cert when the edge saw no client certificate, even without a token', () => {
      assertDenied(engine.evaluate(aliceInput({ source: null, token: null })), 403, 'no_client_cert');
    });

    it('answers 401 missing_token when there is no token', () => {
      assertDenied(engine.evaluate(aliceInput({ token: null })), 401, 'missing_token');
    });

    it('answers 401 missing_token before looking at regions', () => {
      assertDenied(engine.evaluate(aliceInput({ token: null, source: client('eu-central', 'bob') })), 401, 'missing_token');
    });

    it('answers 403 cross_region when the client certificate is from another region', () => {
      assertDenied(engine.evaluate(aliceInput({ source: client('eu-central', 'alice') })), 403, 'cross_region');
    });

    it('answers 403 cross_region when the token region claim names another region', () => {
      assertDenied(engine.evaluate(aliceCalls('POST', ratings, { region: 'eu-central' })), 403, 'cross_region');
    });

    it('answers 403 cross_region when the path tenant lives in another region', () => {
      const admin = aliceCalls('GET', '/v1/tenants/globex/items/i1/ratings', { roles: ['platform_admin'] });
      assertDenied(engine.evaluate(admin), 403, 'cross_region');
    });

    it('answers 403 cross_region for bob reaching the us-east edge, and allows him on his own edge', () => {
      const bob: PolicyInput = {
        request: request('POST', '/v1/tenants/globex/items/i1/ratings'),
        edge: edge('us-east'),
        source: client('eu-central', 'bob'),
        token: { claims: claims({ sub: 'bob', tenant: 'globex', region: 'eu-central', tier: 'starter' }), bound: true },
        now_ms: 1767225600000,
      };
      assertDenied(engine.evaluate(bob), 403, 'cross_region');
      assertAllowed(engine.evaluate({ ...bob, edge: edge('eu-central') }));
    });

    it('answers 403 tenant_mismatch for a tenant the data does not know', () => {
      assertDenied(engine.evaluate(aliceCalls('GET', '/v1/tenants/initech/items/i1/ratings')), 403, 'tenant_mismatch');
    });

    it('answers 403 tenant_mismatch for another tenant once the region check has passed', () => {
      // bob is let across regions for acme's public items, but he is a globex user.
      const bob = aliceInput({
        request: request('GET', '/v1/tenants/acme/items/public-1/ratings'),
        source: client('eu-central', 'bob'),
        token: { claims: claims({ sub: 'bob', tenant: 'globex', region: 'eu-central', tier: 'starter' }), bound: true },
      });
      assertDenied(engine.evaluate(bob), 403, 'tenant_mismatch');
    });

    it('answers 403 forbidden_role for a role that may not take the action', () => {
      assertDenied(engine.evaluate(aliceCalls('POST', ratings, { roles: ['viewer'] })), 403, 'forbidden_role');
    });

    it('answers 403 forbidden_role for any path outside /v1/tenants/{tenant}/', () => {
      for (const path of ['/healthz', '/', '/v1/tenants/acme', '/v2/tenants/acme/items/i1/ratings']) {
        assertDenied(engine.evaluate(aliceCalls('GET', path)), 403, 'forbidden_role');
      }
    });

    it('answers 403 forbidden_role when the segments disagree with the path', () => {
      const forged = aliceInput();
      forged.request.path = '/v1/tenants/globex/items/i1/ratings';
      assertDenied(engine.evaluate(forged), 403, 'forbidden_role');
    });
  });

  describe('roles', () => {
    it('lets every reader role read', () => {
      for (const role of ['viewer', 'rater', 'moderator', 'platform_admin']) {
        assertAllowed(engine.evaluate(aliceCalls('GET', ratings, { roles: [role] })));
        assertAllowed(engine.evaluate(aliceCalls('HEAD', ratings, { roles: [role] })));
      }
    });

    it('lets a rater and a platform admin write but not a moderator', () => {
      for (const method of ['POST', 'PUT', 'PATCH']) {
        assertAllowed(engine.evaluate(aliceCalls(method, ratings, { roles: ['rater'] })));
        assertAllowed(engine.evaluate(aliceCalls(method, ratings, { roles: ['platform_admin'] })));
        assertDenied(engine.evaluate(aliceCalls(method, ratings, { roles: ['moderator'] })), 403, 'forbidden_role');
      }
    });

    it('lets a rater delete her own rating but not another user\'s', () => {
      assertAllowed(engine.evaluate(aliceCalls('DELETE', `${ratings}/alice`)));
      assertDenied(engine.evaluate(aliceCalls('DELETE', `${ratings}/bob`)), 403, 'forbidden_role');
    });

    it('lets a moderator delete anyone\'s rating and nothing else', () => {
      assertAllowed(engine.evaluate(aliceCalls('DELETE', `${ratings}/bob`, { sub: 'mod', roles: ['moderator'] })));
      assertDenied(engine.evaluate(aliceCalls('DELETE', ratings, { sub: 'mod', roles: ['moderator'] })), 403, 'forbidden_role');
      assertDenied(engine.evaluate(aliceCalls('DELETE', '/v1/tenants/acme/items/i1', { roles: ['moderator'] })), 403, 'forbidden_role');
    });

    it('lets a platform admin cross tenants, charging the tenant of the path', () => {
      const admin: PolicyInput = {
        request: request('DELETE', '/v1/tenants/globex/items/i1/ratings/bob'),
        edge: edge('eu-central'),
        source: client('eu-central', 'ops'),
        token: { claims: claims({ sub: 'ops', tenant: 'acme', roles: ['platform_admin'], region: 'eu-central', tier: 'enterprise' }), bound: true },
        now_ms: 1767225600000,
      };
      const d = engine.evaluate(admin);
      assertAllowed(d);
      assert.equal(d.upstream_headers['x-zt-tenant'], 'acme');
      assert.equal(tenantBucket(d)?.key, 'tenant:globex');
    });
  });

  describe('limits', () => {
    it('charges a read the global and tenant buckets only', () => {
      assert.deepEqual(bucketNames(engine.evaluate(aliceCalls('GET', ratings))), ['global', 'tenant']);
    });

    it('charges every write the global, tenant and user buckets, in that order', () => {
      for (const method of ['POST', 'PUT', 'PATCH']) {
        assert.deepEqual(bucketNames(engine.evaluate(aliceCalls(method, ratings))), ['global', 'tenant', 'user']);
      }
    });

    it('does not charge a delete the user write bucket', () => {
      assert.deepEqual(bucketNames(engine.evaluate(aliceCalls('DELETE', `${ratings}/alice`))), ['global', 'tenant']);
    });

    it('sizes the tenant bucket by the tenant\'s tier in data.json, whatever tier the token claims', () => {
      const perClaim = ['free', 'starter', 'enterprise'].map((tier) => tenantBucket(engine.evaluate(aliceCalls('GET', ratings, { tier }))));
      const acmeFree = { name: 'tenant', key: 'tenant:acme', capacity: 60, refill_per_s: 1, cost: 1 };
      assert.deepEqual(perClaim, [acmeFree, acmeFree, acmeFree]);
      assert.equal(engine.evaluate(aliceCalls('GET', ratings, { tier: 'enterprise' })).tier, 'free', 'the decision names the tier it charged');
    });

    it('takes the tenant\'s tier when the tier claim is unknown or absent', () => {
      assert.equal(tenantBucket(engine.evaluate(aliceCalls('GET', ratings, { tier: 'platinum' })))?.capacity, 60);
      const noTier = claims();
      delete noTier.tier;
      assert.equal(tenantBucket(engine.evaluate(aliceInput({ token: { claims: noTier, bound: true } })))?.capacity, 60);
      const globex: PolicyInput = {
        request: request('GET', '/v1/tenants/globex/items/i1/ratings'),
        edge: edge('eu-central'),
        source: client('eu-central', 'bob'),
        token: { claims: claims({ sub: 'bob', tenant: 'globex', region: 'eu-central', tier: 'gold' }), bound: true },
        now_ms: 1767225600000,
      };
      assert.deepEqual(tenantBucket(engine.evaluate(globex)), { name: 'tenant', key: 'tenant:globex', capacity: 600, refill_per_s: 10, cost: 1 });
    });
  });

  describe('the shipped cross_region_allow entry (eu-central to us-east, GET, /v1/tenants/acme/items/public-)', () => {
    // carol is an acme member travelling: her client certificate was issued in eu-central.
    const carol = (method: string, path: string): PolicyInput =>
      aliceInput({
        request: request(method, path),
        source: client('eu-central', 'carol'),
        token: { claims: claims({ sub: 'carol', roles: ['viewer', 'rater'] }), bound: true },
      });

    it('lets exactly its method and path prefix through', () => {
      const d = engine.evaluate(carol('GET', '/v1/tenants/acme/items/public-42/ratings'));
      assertAllowed(d);
      assert.equal(d.upstream_headers['x-zt-client'], 'spiffe://zt.local/eu-central/client/carol');
    });

    it('does not let another method through on the same path', () => {
      for (const method of ['HEAD', 'POST', 'DELETE']) {
        assertDenied(engine.evaluate(carol(method, '/v1/tenants/acme/items/public-42/ratings')), 403, 'cross_region');
      }
    });

    it('does not let the same method through on another path', () => {
      assertDenied(engine.evaluate(carol('GET', ratings)), 403, 'cross_region');
      assertDenied(engine.evaluate(carol('GET', '/v1/tenants/acme/items/publicity/ratings')), 403, 'cross_region');
    });

    it('works one way only', () => {
      const reverse = { ...carol('GET', '/v1/tenants/acme/items/public-42/ratings'), edge: edge('eu-central'), source: client('us-east', 'carol') };
      assertDenied(engine.evaluate(reverse), 403, 'cross_region');
    });
  });
});
