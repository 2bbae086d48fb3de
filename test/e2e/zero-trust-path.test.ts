import assert from 'node:assert/strict';
import { kill } from 'node:process';
import tls from 'node:tls';
import { givenPki, type TestPki } from '../helpers/given-pki.js';
import { BOB, EDGE_KINDS, givenStack, ratingsPath, type TestStack } from '../helpers/given-stack.js';

interface Aggregate {
  item: string;
  count: number;
  average: number;
  histogram: Record<string, number>;
}

/**
 * The whole zero-trust path end to end: client cert + token -> edge -> authz -> rating API, all
 * real processes started as `npm start` starts them, over real mTLS. Run through the dev edge and
 * through the real Envoy on the shipped config, each with the in-memory stores and with Redis: the
 * same assertions hold for every combination.
 */
const RUNS = EDGE_KINDS.flatMap((edgeKind) => (['memory', 'redis'] as const).map((store) => ({ edgeKind, store })));

for (const { edgeKind, store } of RUNS) {
  describe(`the stack end to end through the ${edgeKind === 'envoy' ? 'real Envoy' : 'dev edge'} (${store} stores)`, function () {
    this.timeout(180_000);
    let s: TestStack;
    let foreign: TestPki;

    before(async function () {
      [s, foreign] = await Promise.all([givenStack({ edge: edgeKind, ...(store === 'redis' ? { redis: 'local' as const } : {}) }), givenPki({ trustDomain: 'evil.local' })]);
    });
    after(async function () {
      await s?.stop();
      await foreign?.cleanup();
    });

    async function aggregate(item: string): Promise<Aggregate> {
      const edge = await s.edge('us-east');
      const res = await edge.get(ratingsPath(item)).set('authorization', `Bearer ${await s.token({ roles: ['viewer'] })}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as Aggregate;
    }

    it('lets alice rate through us-east (201), replace her rating (200), and the aggregate shows one vote with the new score', async function () {
      const edge = await s.edge('us-east');
      const token = await s.token();
      const created = await edge.post(ratingsPath('happy')).set('authorization', `Bearer ${token}`).send({ score: 2, comment: 'meh' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.ok(created.headers['x-ratelimit-limit'], 'x-ratelimit-limit on an allowed request');
      assert.ok(created.headers['x-ratelimit-remaining'] !== undefined);
      const replaced = await edge.post(ratingsPath('happy')).set('authorization', `Bearer ${token}`).send({ score: 5 });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      const agg = await aggregate('happy');
      assert.equal(agg.count, 1);
      assert.equal(agg.average, 5);
      assert.equal(agg.histogram['5'], 1);
      assert.equal(agg.histogram['2'], 0);
    });

    it('denies alice through eu-central and bob through us-east with 403 cross_region', async function () {
      const viaEu = await (await s.edge('eu-central')).post(ratingsPath('x')).set('authorization', `Bearer ${await s.token()}`).send({ score: 3 });
      assert.equal(viaEu.status, 403);
      assert.equal((viaEu.body as { error: string }).error, 'cross_region');
      const bobToken = await s.token(BOB);
      const bobViaUs = await (await s.edge('us-east', 'client-bob')).post(ratingsPath('x', 'globex')).set('authorization', `Bearer ${bobToken}`).send({ score: 3 });
      assert.equal(bobViaUs.status, 403);
      assert.equal((bobViaUs.body as { error: string }).error, 'cross_region');
      const bobHome = await (await s.edge('eu-central', 'client-bob')).post(ratingsPath('x', 'globex')).set('authorization', `Bearer ${bobToken}`).send({ score: 3 });
      assert.equal(bobHome.status, 201, 'bob through his own region works');
    });

    it('denies a tenant mismatch and a viewer write with 403, and lets a moderator delete and move the aggregate', async function () {
      const edge = await s.edge('us-east');
      const mismatch = await edge.get(ratingsPath('x', 'globex')).set('authorization', `Bearer ${await s.token()}`);
      assert.equal(mismatch.status, 403);
      assert.equal((mismatch.body as { error: string }).error, 'cross_region', 'globex lives in eu-central, so its data is foreign to us-east first');
      const otherTenant = await edge.get(ratingsPath('x')).set('authorization', `Bearer ${await s.token({ tenant: 'globex', region: 'us-east' })}`);
      assert.equal(otherTenant.status, 403);
      assert.equal((otherTenant.body as { error: string }).error, 'tenant_mismatch');
      const viewer = await edge.post(ratingsPath('mod')).set('authorization', `Bearer ${await s.token({ roles: ['viewer'] })}`).send({ score: 4 });
      assert.equal(viewer.status, 403);
      assert.equal((viewer.body as { error: string }).error, 'forbidden_role');

      for (const sub of ['carol', 'dave']) {
        const r = await edge.post(ratingsPath('mod')).set('authorization', `Bearer ${await s.token({ sub })}`).send({ score: sub === 'carol' ? 1 : 5 });
        assert.equal(r.status, 201);
      }
      assert.equal((await aggregate('mod')).count, 2);
      const del = await edge.del(`${ratingsPath('mod')}/carol`).set('authorization', `Bearer ${await s.token({ sub: 'mona', roles: ['moderator'] })}`);
      assert.equal(del.status, 204, JSON.stringify(del.body));
      const after = await aggregate('mod');
      assert.equal(after.count, 1);
      assert.equal(after.average, 5);
      assert.equal(after.histogram['1'], 0);
    });

    it('fails the handshake without a client certificate and with a foreign-CA one, and answers 401 with www-authenticate without a token', async function () {
      const { ca } = await s.pki.tls('client-alice');
      const edgeAt = s.edgeAddress('us-east');
      const handshake = (opts: tls.ConnectionOptions): Promise<string> =>
        new Promise((resolve) => {
          const socket = tls.connect({ ...edgeAt, ca, ...opts }, () => {
            // TLS 1.3: the server's verdict on the client certificate arrives after the client's handshake.
            socket.write('GET /v1/tenants/acme/items/x/ratings HTTP/1.1\r\nhost: x\r\n\r\n');
          });
          socket.on('data', () => resolve('answered'));
          socket.on('error', (err: Error) => resolve(`error: ${err.message}`));
          socket.on('close', () => resolve('closed'));
        });
      assert.match(await handshake({}), /error: .*(certificate required|alert)|closed/);
      const { cert, key } = await foreign.tls('client-alice');
      assert.match(await handshake({ cert, key }), /error: .*(unknown ca|alert)|closed/);

      const res = await (await s.edge('us-east')).get(ratingsPath('x'));
      assert.equal(res.status, 401);
      assert.equal((res.body as { error: string }).error, 'missing_token');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    });

    it('ignores spoofed x-zt-subject, x-zt-tenant and XFCC headers: the rating API sees only what authz set', async function () {
      const edge = await s.edge('us-east');
      const res = await edge
        .post(ratingsPath('spoof'))
        .set('authorization', `Bearer ${await s.token()}`)
        .set('x-zt-subject', 'mallory')
        .set('x-zt-tenant', 'globex')
        .set('x-zt-roles', 'platform_admin,moderator')
        .set('x-zt-client', 'spiffe://zt.local/eu-central/client/bob')
        // Were this XFCC believed, the client would be from eu-central and the call cross_region.
        .set('x-forwarded-client-cert', 'By=spiffe://zt.local/us-east/edge/envoy;URI=spiffe://zt.local/eu-central/client/bob')
        .send({ score: 4 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal((res.body as { user: string }).user, 'alice');
      const moderatorSpoof = await edge
        .del(`${ratingsPath('spoof')}/alice`)
        .set('authorization', `Bearer ${await s.token({ sub: 'eve', roles: ['rater'] })}`)
        .set('x-zt-roles', 'moderator');
      assert.equal(moderatorSpoof.status, 403);
      assert.equal((moderatorSpoof.body as { error: string }).error, 'forbidden_role');
      assert.equal((await aggregate('spoof')).count, 1);
    });

    it('answers the 6th write by one user within a second with 429 and retry-after', async function () {
      const edge = await s.edge('us-east');
      const token = await s.token({ sub: 'speedy' });
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 6; i++) {
        const r = await edge.post(ratingsPath(`burst-${i}`)).set('authorization', `Bearer ${token}`).send({ score: 3 });
        statuses.push(r.status);
        if (r.status === 429) {
          retryAfter = String(r.headers['retry-after']);
          assert.equal((r.body as { error: string }).error, 'rate_limited');
        }
      }
      assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429]);
      assert.equal(retryAfter, '1');
    });

    it('rejects each bad body with its status and field errors, and stores nothing', async function () {
      const edge = await s.edge('us-east');
      // A user of its own per request: six writes by one user within a second would meet the 5/s limit.
      let n = 0;
      const fresh = (): Promise<string> => s.token({ sub: `validator-${n++}` });
      const cases: { body: string; type: string; status: number; error: string; field?: string }[] = [
        { body: JSON.stringify({ score: 6 }), type: 'application/json', status: 400, error: 'invalid_request', field: 'score' },
        { body: JSON.stringify({ score: 3, comment: 'x'.repeat(501) }), type: 'application/json', status: 400, error: 'invalid_request', field: 'comment' },
        { body: JSON.stringify({ score: 3, extra: true }), type: 'application/json', status: 400, error: 'invalid_request' },
        { body: JSON.stringify({ score: 3, comment: 'x'.repeat(17 * 1024) }), type: 'application/json', status: 413, error: 'payload_too_large' },
        { body: 'score=3', type: 'application/x-www-form-urlencoded', status: 415, error: 'unsupported_media_type' },
      ];
      for (const c of cases) {
        const r = await edge.post(ratingsPath('valid')).set('authorization', `Bearer ${await fresh()}`).set('content-type', c.type).send(c.body);
        assert.equal(r.status, c.status, `${c.body.slice(0, 40)}: ${JSON.stringify(r.body)}`);
        assert.equal((r.body as { error: string }).error, c.error);
        if (c.field) assert.ok((r.body as { fields: { path: string }[] }).fields.some((f) => f.path === c.field), JSON.stringify(r.body));
      }
      const unknown = await edge.get('/v1/tenants/acme/nothing-here').set('authorization', `Bearer ${await s.token({ roles: ['viewer'] })}`);
      assert.equal(unknown.status, 404);
      const wrongMethod = await edge.put(ratingsPath('valid')).set('authorization', `Bearer ${await fresh()}`).send({ score: 3 });
      assert.equal(wrongMethod.status, 405);
      assert.equal((await aggregate('valid')).count, 0);
    });

    it('counts exactly 50 votes and the exact sum when 50 raters write one item at once', async function () {
      const edge = await s.edge('us-east');
      const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => s.token({ sub: `rater-${i}` })));
      const results = await Promise.all(tokens.map((t, i) => edge.post(ratingsPath('crowd')).set('authorization', `Bearer ${t}`).send({ score: (i % 5) + 1 })));
      assert.deepEqual(
        results.map((r) => r.status),
        Array.from({ length: 50 }, () => 201),
      );
      const agg = await aggregate('crowd');
      assert.equal(agg.count, 50);
      assert.equal(Math.round(agg.average * agg.count), 150);
      assert.deepEqual(agg.histogram, { '1': 10, '2': 10, '3': 10, '4': 10, '5': 10 });
    });

    it('fails closed with 503 unavailable while authz is stopped, forwards nothing, and answers again once it resumes', async function () {
      const edge = await s.edge('us-east');
      const token = await s.token({ roles: ['viewer'] });
      const authzPid = s.stack.pids.authz;
      assert.ok(authzPid);
      kill(authzPid, 'SIGSTOP');
      const timings: number[] = [];
      const ids: string[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          const t = performance.now();
          const r = await edge.get(ratingsPath('happy')).set('authorization', `Bearer ${token}`);
          timings.push(performance.now() - t);
          assert.equal(r.status, 503, JSON.stringify(r.body));
          const body = r.body as { error: string; request_id: string };
          assert.equal(body.error, 'unavailable');
          ids.push(body.request_id);
        }
      } finally {
        kill(authzPid, 'SIGCONT');
      }
      for (const id of ids) {
        // The edge's own account: authz failed (UAEX) and no upstream was ever picked.
        const line = await s.accessLine('us-east', id);
        assert.equal(line.status, 503, JSON.stringify(line));
        assert.match(String(line.response_flags), /UAEX/, JSON.stringify(line));
        assert.equal(line.upstream_host, null, `request ${id} must not reach the rating API: ${JSON.stringify(line)}`);
      }
      // The 250 ms timeout's effect is measured by `npm run bench:stack` (fail-closed median); a
      // test holds no timing threshold. The answers are reported in the title.
      if (this.test) this.test.title += ` (answers in ${timings.map(Math.round).join(', ')} ms)`;
      const back = await edge.get(ratingsPath('happy')).set('authorization', `Bearer ${token}`);
      assert.equal(back.status, 200, 'answers again once authz resumes');
    });

    if (edgeKind === 'envoy') {
      it('verified every upstream peer: Envoy counted no certificate verify failure on the authz and rating_api clusters', async function () {
        for (const region of ['us-east', 'eu-central'] as const) {
          const stats = await s.envoy(region)!.stats();
          for (const cluster of ['authz', 'rating_api']) {
            assert.equal(stats.get(`cluster.${cluster}.ssl.fail_verify_error`), 0, `${region} ${cluster}`);
            assert.equal(stats.get(`cluster.${cluster}.ssl.fail_verify_san`), 0, `${region} ${cluster}`);
            assert.ok((stats.get(`cluster.${cluster}.ssl.handshake`) ?? 0) > 0, `${region} ${cluster}: some handshake happened`);
          }
        }
      });
    }
  });
}
