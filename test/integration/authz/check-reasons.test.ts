import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { dataPath } from '../../helpers/given-policy.js';
import { bodyOf, ALICE, BOB, CHECK_PROTOCOLS, EdgeClient, givenAuthz, type CheckResponse, signedToken, standardClaims, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const WRITE = '/check/v1/tenants/acme/items/i1/ratings';

/**
 * Every reason code of DESIGN.md through the real service over mTLS (memory bucket store), each
 * with its status, JSON body and headers. Rate limiting with Redis, the closed failure mode and
 * the TLS-level refusals have their own files. Over both protocols of the check listener: h2 (Envoy's
 * authz cluster) and HTTP/1.1 (the dev edge).
 */
for (const protocol of CHECK_PROTOCOLS)
describe(`authz check: a reason code for every outcome (${protocol})`, () => {
  let svc: RunningAuthz;
  let edgeUs: { cert: string; key: string; ca: string };
  let edgeEu: { cert: string; key: string; ca: string };
  let aliceToken: string;
  let dataDir: string;

  before(async () => {
    // A data file of the test's own: the demo data plus an allow-list entry only this test uses.
    dataDir = await mkdtemp(join(tmpdir(), 'zt-authz-data-'));
    const data = JSON.parse(await readFile(dataPath, 'utf8')) as { cross_region_allow: unknown[] };
    data.cross_region_allow = [
      { description: 'test: eu-central clients may GET acme shared-* items via us-east', from: 'eu-central', to: 'us-east', methods: ['GET'], path_prefix: '/v1/tenants/acme/items/shared-' },
    ];
    await writeFile(join(dataDir, 'data.json'), JSON.stringify(data));
    svc = await givenAuthz({ env: { POLICY_DATA: join(dataDir, 'data.json') } });
    edgeUs = await svc.pki.tls('edge-us-east');
    edgeEu = await svc.pki.tls('edge-eu-central');
    aliceToken = await tokenFor(svc.pki, ALICE);
  });

  after(async () => {
    await svc.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  function asEdge(method: 'get' | 'post' | 'delete', path: string, edge = edgeUs): request.Test {
    return request(svc.url, { http2: protocol === 'h2' })[method](path).ca(edge.ca).cert(edge.cert).key(edge.key);
  }

  function assertDeny(res: request.Response, status: number, reason: string): void {
    assert.equal(res.status, status, `expected ${status} ${reason}, got ${res.status} ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(bodyOf(res).error, reason);
    assert.equal(typeof bodyOf(res).request_id, 'string');
    assert.equal(res.headers['x-zt-subject'], undefined, 'a deny forwards no upstream headers');
  }

  it('allows alice rating an acme item through the us-east edge, with upstream and rate limit headers', async () => {
    const res = await asEdge('post', WRITE)
      .set('authorization', `Bearer ${aliceToken}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'))
      .set('x-request-id', 'req-allow-1');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-zt-subject'], 'alice');
    assert.equal(res.headers['x-zt-tenant'], 'acme');
    assert.equal(res.headers['x-zt-roles'], 'rater');
    assert.equal(res.headers['x-zt-client'], svc.pki.spiffeId('client-alice'));
    // The user bucket (5) is the most constraining of global (200), tenant (60) and user.
    assert.equal(res.headers['x-ratelimit-limit'], '5');
    assert.equal(res.headers['x-ratelimit-remaining'], '4');
    assert.equal(res.headers['x-ratelimit-reset'], '1');
    assert.equal(res.headers['x-request-id'], 'req-allow-1');
  });

  it('returns 401 missing_token with a Bearer realm challenge when no token comes', async () => {
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings').set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 401, 'missing_token');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="rating-api"');
  });

  it('returns 401 missing_token for another authorization scheme', async () => {
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings')
      .set('authorization', 'Basic YWxpY2U6c2VjcmV0')
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 401, 'missing_token');
  });

  it('returns 401 invalid_token with the invalid_token challenge for a garbage token', async () => {
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings')
      .set('authorization', 'Bearer not-a-jwt')
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 401, 'invalid_token');
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="the token is malformed"');
    assert.doesNotMatch(res.text, /JWS|JWT|Invalid Compact/i, 'jose text never reaches the client');
  });

  it('returns 401 token_expired with the invalid_token challenge for an expired token', async () => {
    const token = await tokenFor(svc.pki, ALICE, new Date(Date.now() - 3_600_000), 600_000);
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings')
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 401, 'token_expired');
    assert.match(String(res.headers['www-authenticate']), /^Bearer error="invalid_token"/);
  });

  it('returns 403 no_client_cert without consulting the policy when XFCC is missing', async () => {
    const res = await asEdge('post', WRITE).set('authorization', `Bearer ${aliceToken}`);
    assertDeny(res, 403, 'no_client_cert');
  });

  it('returns 403 untrusted_peer to a client certificate that is not an edge', async () => {
    const alice = await svc.pki.tls('client-alice');
    const res = await request(svc.url, { http2: protocol === 'h2' })
      .post(WRITE)
      .ca(alice.ca)
      .cert(alice.cert)
      .key(alice.key)
      .set('authorization', `Bearer ${aliceToken}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 403, 'untrusted_peer');
  });

  it('returns 403 cross_region for alice (us-east) through the eu-central edge', async () => {
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings', edgeEu)
      .set('authorization', `Bearer ${aliceToken}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice', 'edge-eu-central'));
    assertDeny(res, 403, 'cross_region');
  });

  it('returns 403 cross_region when the token region claim differs from the edge region', async () => {
    const token = await tokenFor(svc.pki, { ...ALICE, region: 'eu-central' });
    const res = await asEdge('get', '/check/v1/tenants/acme/items/i1/ratings')
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 403, 'cross_region');
  });

  it('lets exactly the method and path prefix of a cross_region_allow entry through', async () => {
    // bob's eu-central certificate with an acme viewer token from eu-central, via the us-east edge.
    const token = await tokenFor(svc.pki, { sub: 'bob', tenant: 'acme', roles: ['viewer'], region: 'eu-central', tier: 'free' });
    const call = (method: 'get' | 'post', path: string): request.Test =>
      asEdge(method, path).set('authorization', `Bearer ${token}`).set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-bob'));

    const allowed = await call('get', '/check/v1/tenants/acme/items/shared-1/ratings');
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal(allowed.headers['x-zt-client'], svc.pki.spiffeId('client-bob'));
    assertDeny(await call('get', '/check/v1/tenants/acme/items/private-1/ratings'), 403, 'cross_region');
    assertDeny(await call('post', '/check/v1/tenants/acme/items/shared-1/ratings'), 403, 'cross_region');
    // The demo data's own entry (public-*) is not in this test's data file.
    assertDeny(await call('get', '/check/v1/tenants/acme/items/public-1/ratings'), 403, 'cross_region');
  });

  it('returns 403 tenant_mismatch when alice writes into another tenant of her region', async () => {
    const token = await tokenFor(svc.pki, { ...ALICE, tenant: 'globex' });
    const res = await asEdge('post', WRITE)
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 403, 'tenant_mismatch');
  });

  it('returns 403 forbidden_role when a viewer writes', async () => {
    const token = await tokenFor(svc.pki, { ...ALICE, roles: ['viewer'] });
    const res = await asEdge('post', WRITE)
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 403, 'forbidden_role');
  });

  it('returns 403 policy_error, not a 5xx, when a verified claim cannot become an upstream header', async () => {
    const token = await signedToken(svc.pki, standardClaims(undefined, { sub: 'alice\u0000' }));
    const res = await asEdge('post', WRITE)
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 403, 'policy_error');
  });

  it('returns 429 rate_limited with retry-after once bob writes a sixth time within a second', async () => {
    const token = await tokenFor(svc.pki, BOB);
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfccFor(svc.pki, 'client-bob', 'edge-eu-central') };
    // One connection for the six, as an edge holds one: a handshake per request (supertest's h2
    // opens a session each time) could spread them over more than the second the bucket refills in.
    const client = await EdgeClient.create(svc, 'edge-eu-central', protocol);
    try {
      const replies: CheckResponse[] = [];
      for (let i = 0; i < 6; i++) replies.push(await client.check('POST', '/check/v1/tenants/globex/items/i1/ratings', headers));
      assert.deepEqual(replies.slice(0, 5).map((r) => r.status), [200, 200, 200, 200, 200]);
      const last = replies[5];
      assert.ok(last);
      assert.equal(last.status, 429, last.body);
      assert.equal(last.json().error, 'rate_limited');
      assert.equal(last.headers['retry-after'], '1');
      assert.equal(last.headers['x-ratelimit-limit'], '5');
      assert.equal(last.headers['x-ratelimit-remaining'], '0');
    } finally {
      client.close();
    }
  });

  it('answers 404 not_found to an edge asking outside /check', async () => {
    const res = await asEdge('get', '/checkout/v1').set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    assertDeny(res, 404, 'not_found');
    assert.deepEqual(Object.keys(bodyOf(res)).sort(), ['error', 'request_id']);
    assert.equal(res.headers['x-request-id'], bodyOf(res).request_id);
    const line = svc.decisions().find((d) => d.request_id === bodyOf(res).request_id);
    assert.equal(line?.reason, 'not_found');
    assert.equal(line?.status, 404);
  });

  it('answers 403 untrusted_peer, not 404, to a non-edge asking outside /check', async () => {
    const alice = await svc.pki.tls('client-alice');
    const res = await request(svc.url, { http2: protocol === 'h2' }).get('/checkout/v1').ca(alice.ca).cert(alice.cert).key(alice.key);
    assertDeny(res, 403, 'untrusted_peer');
  });
});
