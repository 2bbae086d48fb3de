import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { createRatingStore } from '../../../src/rating/create-rating-store.js';
import { loadRatingConfig } from '../../../src/rating/config.js';
import { startRatingService, type RatingService } from '../../../src/rating/server.js';
import type { RatingStore } from '../../../src/rating/rating-store.js';
import { createLogger } from '../../../src/shared/logger.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ALICE, BOB, givenAuthz, tokenFor, type RunningAuthz } from '../authz/given-authz.js';
import { givenEdge, send, type Reply, type RunningEdge } from './given-edge.js';

/**
 * Both dev edges in front of the real policy service and the real rating API, all over mTLS on
 * loopback: the request flow of DESIGN.md with nothing stood in for.
 */
describe('dev edge: in front of the real authz and rating API', () => {
  let pki: TestPki;
  let authz: RunningAuthz;
  let store: RatingStore;
  let rating: RatingService;
  let east: RunningEdge;
  let eu: RunningEdge;
  let alice: { cert: string; key: string; ca: string };
  let bob: { cert: string; key: string; ca: string };
  let aliceAgent: Agent;

  before(async () => {
    pki = await givenPki();
    authz = await givenAuthz({ pki });
    const ratingConfig = await loadRatingConfig({ ZT_PKI_DIR: pki.dir, RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'silent' });
    const logger = createLogger('rating', { level: 'silent' });
    store = createRatingStore(undefined, logger);
    rating = await startRatingService(ratingConfig, { store, logger });
    const urls = { authzUrl: authz.url, ratingUrl: `https://127.0.0.1:${rating.port}` };
    east = await givenEdge(pki, { ...urls, region: 'us-east' });
    eu = await givenEdge(pki, { ...urls, region: 'eu-central' });
    alice = await pki.tls('client-alice');
    bob = await pki.tls('client-bob');
    aliceAgent = new Agent({ keepAlive: true, ...alice });
  });

  after(async () => {
    aliceAgent.destroy();
    await Promise.all([east.close(), eu.close()]);
    await rating.close();
    await store.close();
    await authz.close();
    await pki.cleanup();
  });

  async function rate(edge: RunningEdge, tls: typeof alice, token: string | undefined, tenant: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    return send(edge.port, tls, {
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

    const read = await send(east.port, alice, { path: '/v1/tenants/acme/items/widget/ratings', headers: { authorization: `Bearer ${token}` }, agent: aliceAgent });
    assert.equal(read.status, 200, read.body);
    const aggregate = JSON.parse(read.body) as { count: number; average: number };
    assert.equal(aggregate.count, 1);
    assert.equal(aggregate.average, 4);
  });

  it('denies alice through eu-central with 403 cross_region, passed through as authz wrote it', async () => {
    const res = await rate(eu, alice, await tokenFor(pki, ALICE), 'acme', { score: 5 });
    assert.equal(res.status, 403);
    const body = JSON.parse(res.body) as { error: string; request_id: string };
    assert.equal(body.error, 'cross_region');
    const line = authz.decisions().find((d) => d.request_id === body.request_id);
    assert.ok(line, 'the decision log has the id the edge minted');
    assert.equal(line.reason, 'cross_region');
  });

  it('lets bob rate a globex item through eu-central', async () => {
    const res = await rate(eu, bob, await tokenFor(pki, BOB), 'globex', { score: 3 });
    assert.equal(res.status, 201, res.body);
  });

  it('answers 401 missing_token with the Bearer challenge when there is no token', async () => {
    const res = await rate(east, alice, undefined, 'acme', { score: 5 });
    assert.equal(res.status, 401);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'missing_token');
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  });

  it('ignores a forged x-zt-subject: the rating is stored for the token subject only', async () => {
    const token = await tokenFor(pki, ALICE);
    const forged = await rate(east, alice, token, 'acme', { score: 1 }, { 'x-zt-subject': 'mallory', 'x-zt-roles': 'moderator' });
    assert.equal(forged.status, 200, 'alice replaced her own rating, she did not create one for mallory');
    const read = await send(east.port, alice, { path: '/v1/tenants/acme/items/widget/ratings', headers: { authorization: `Bearer ${token}` }, agent: aliceAgent });
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
    assert.equal((JSON.parse(limited.body) as { error: string }).error, 'rate_limited');
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
  });
});
