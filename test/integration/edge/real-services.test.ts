import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { buildApp as buildRatingApp } from '../../../src/rating/app.js';
import { loadConfig as loadRatingConfig } from '../../../src/rating/config.js';
import { createDeps as createRatingDeps } from '../../../src/rating/create-deps.js';
import { createLogger } from '../../../src/shared/logger.js';
import { startService, type RunningService } from '../../../src/shared/service.js';
import { EDGE_KINDS, givenEdgeSite, type ClientTls, type EdgeSite, type EdgeUnderTest, type Reply } from '../../helpers/edge-under-test.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ALICE, BOB, givenAuthz, tokenFor as tokenForAnyCert, x5tOf, type RunningAuthz } from '../authz/given-authz.js';
import { denyBody, skipUnlessRunnable, verifyFailures } from './given-edge.js';

/**
 * Both regional edges in front of the real policy service and the real rating API, all over mTLS:
 * the request flow of DESIGN.md with nothing stood in for, through the dev edges and through two
 * real Envoys running envoy.yaml (one network namespace each, as each compose container has one).
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: in front of the real authz and rating API`, () => {
    let pki: TestPki;
    let site: EdgeSite;
    let authz: RunningAuthz;
    let rating: RunningService;
    let east: EdgeUnderTest;
    let eu: EdgeUnderTest;
    let alice: ClientTls;
    let bob: ClientTls;
    let aliceAgent: Agent;

    before(async function () {
      skipUnlessRunnable(this, kind);
      pki = await givenPki();
      site = await givenEdgeSite(kind, pki);
      const at = site.upstreams;
      authz = await givenAuthz({ pki, env: { AUTHZ_LISTEN: `${at.authz.host}:${at.authz.port}` } });
      // The real rating API as its main starts it, where the site's edges send (memory store).
      const logger = createLogger('rating', { level: 'silent' });
      rating = await startService(
        { name: 'rating', loadConfig: loadRatingConfig, createDeps: (config) => createRatingDeps(config, { logger }), buildApp: buildRatingApp },
        { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, RATING_LISTEN: `${at.rating.host}:${at.rating.port}`, RATING_ADMIN_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'silent' },
      );
      const urls = { authzUrl: `https://${at.authz.host}:${authz.port}`, ratingUrl: `https://${at.rating.host}:${rating.ports.port}` };
      east = await site.edge('us-east', urls);
      eu = await site.edge('eu-central', urls);
      alice = await pki.tls('client-alice');
      bob = await pki.tls('client-bob');
      aliceAgent = new Agent({ keepAlive: true, ...alice });
    });

    after(async () => {
      aliceAgent?.destroy();
      await site?.close();
      await rating?.stop();
      await authz?.close();
      await pki?.cleanup();
    });

    // Each token is bound to the real certificate its client presents, as acme requires.
    const tokenFor = async (p: TestPki, claims: typeof ALICE): Promise<string> => tokenForAnyCert(p, claims, undefined, undefined, await x5tOf(p, `client-${claims.sub}`));

    async function rate(edge: EdgeUnderTest, tls: ClientTls, token: string | undefined, tenant: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
      return edge.send(tls, {
        method: 'POST',
        path: `/v1/tenants/${tenant}/items/widget/ratings`,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify(body),
        ...(tls === alice ? { agent: aliceAgent } : {}),
      });
    }

    it('lets alice rate an acme item through us-east (201) and read the aggregate (200)', async () => {
      const token = await tokenFor(pki, ALICE);
      const created = await rate(east, alice, token, 'acme', { score: 4, comment: 'solid' });
      assert.equal(created.status, 201, created.body);
      assert.match(String(created.headers['x-ratelimit-remaining']), /^\d+$/, 'the rate-limit headers reach the client');

      const read = await east.send(alice, { path: '/v1/tenants/acme/items/widget/ratings', headers: { authorization: `Bearer ${token}` }, agent: aliceAgent });
      assert.equal(read.status, 200, read.body);
      const aggregate = JSON.parse(read.body) as { count: number; average: number };
      assert.equal(aggregate.count, 1);
      assert.equal(aggregate.average, 4);
    });

    it('denies alice through eu-central with 403 cross_region, passed through as authz wrote it', async () => {
      const res = await rate(eu, alice, await tokenFor(pki, ALICE), 'acme', { score: 5 });
      assert.equal(res.status, 403);
      const body = denyBody(res);
      assert.equal(body.error, 'cross_region');
      const line = authz.decisions().find((d) => d.request_id === body.request_id);
      assert.ok(line, 'the decision log has the id the edge minted');
      assert.equal(line.reason, 'cross_region');
      assert.equal(line.edge_region, 'eu-central', "authz read the region from the eu-central edge's own certificate");
    });

    it('lets bob rate a globex item through eu-central', async () => {
      const res = await rate(eu, bob, await tokenFor(pki, BOB), 'globex', { score: 3 });
      assert.equal(res.status, 201, res.body);
    });

    it('answers 401 missing_token with the Bearer challenge when there is no token', async () => {
      const res = await rate(east, alice, undefined, 'acme', { score: 5 });
      assert.equal(res.status, 401);
      assert.equal(denyBody(res).error, 'missing_token');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    });

    it('ignores a forged x-zt-subject: the rating is stored for the token subject only', async () => {
      const token = await tokenFor(pki, ALICE);
      const forged = await rate(east, alice, token, 'acme', { score: 1 }, { 'x-zt-subject': 'mallory', 'x-zt-roles': 'moderator' });
      assert.equal(forged.status, 200, 'alice replaced her own rating, she did not create one for mallory');
      const read = await east.send(alice, { path: '/v1/tenants/acme/items/widget/ratings', headers: { authorization: `Bearer ${token}` }, agent: aliceAgent });
      assert.equal((JSON.parse(read.body) as { count: number }).count, 1);
    });

    it('passes 429 rate_limited through with Retry-After once alice exceeds her write bucket', async () => {
      const token = await tokenFor(pki, ALICE);
      let limited: Reply | undefined;
      // 5 writes/s per user: a burst of sequential writes empties the bucket well before 60.
      for (let i = 0; i < 60 && limited === undefined; i++) {
        const res = await rate(east, alice, token, 'acme', { score: 2 });
        if (res.status === 429) limited = res;
        else assert.ok(res.status === 200 || res.status === 201, res.body);
      }
      assert.ok(limited, 'a 429 came');
      assert.equal(denyBody(limited).error, 'rate_limited');
      assert.match(String(limited.headers['retry-after']), /^\d+$/);
    });

    it(`asks authz over ${kind === 'envoy' ? 'HTTP/2, concurrent checks sharing one connection' : 'HTTP/1.1 (the dev edge)'}, and the decision lines keep every field`, async () => {
      const token = await tokenFor(pki, ALICE);
      const path = '/v1/tenants/acme/items/widget/ratings';
      const reads = await Promise.all(Array.from({ length: 20 }, () => east.send(alice, { path, headers: { authorization: `Bearer ${token}` } })));
      // On a busy host a check can miss authz's 250 ms: that one fails closed, as designed.
      for (const r of reads.filter((x) => x.status !== 200)) assert.equal(denyBody(r).error, 'unavailable', r.body);
      const ids = reads.filter((r) => r.status === 200).map((r) => String(r.headers['x-request-id']));
      assert.ok(ids.length > 0, 'some checks were allowed');
      for (const id of ids) {
        const line = authz.decisions().find((d) => d.request_id === id);
        assert.deepEqual(
          { subject: line?.subject, tenant: line?.tenant, client: line?.client_spiffe_id, edge_region: line?.edge_region, method: line?.method, path: line?.path, decision: line?.decision, reason: line?.reason },
          { subject: 'alice', tenant: 'acme', client: pki.spiffeId('client-alice'), edge_region: 'us-east', method: 'GET', path, decision: 'allow', reason: 'allowed' },
        );
      }
      if (kind === 'envoy') {
        const stats = await east.stats();
        const h2 = stats.get('cluster.authz.upstream_cx_http2_total') ?? 0;
        assert.equal(stats.get('cluster.authz.upstream_cx_http1_total'), 0, 'no HTTP/1.1 connection to authz');
        assert.ok(h2 >= 1, 'HTTP/2 connections to authz');
        assert.equal(stats.get('cluster.authz.upstream_cx_total'), h2, 'every connection to authz is HTTP/2');
        assert.ok(h2 < reads.length, `20 concurrent checks took ${h2} connections`);
      }
    });

    it('ends the suite with no failed certificate verification on either upstream cluster of either edge', async () => {
      for (const edge of [east, eu]) {
        assert.deepEqual(await verifyFailures(edge), { authz: { chain: 0, san: 0 }, rating_api: { chain: 0, san: 0 } }, edge.region);
      }
    });
  });
}
