import assert from 'node:assert/strict';
import { EDGE_KINDS, type ClientTls, type Reply } from '../../helpers/edge-under-test.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { givenEdgeFixture, skipUnlessRunnable, verifyFailures, type EdgeFixture, type EdgeFixtureOptions } from './given-edge.js';

const RATINGS = '/v1/tenants/acme/items/widget/ratings';


/**
 * The hop to the rating API, through the dev edge and through Envoy: the edge forwards only to a
 * peer that proves the rating API's SPIFFE ID with a certificate of the internal CA, and answers a
 * failed or slow upstream as Envoy's router does, with the JSON body of envoy.yaml's
 * local_reply_config. Each test gets its own edge and stand-ins.
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: the rating API hop refuses impostors and answers failures like Envoy's router`, () => {
    let pki: TestPki;
    let foreign: TestPki;
    let alice: ClientTls;
    const fixtures: EdgeFixture[] = [];

    before(async function () {
      skipUnlessRunnable(this, kind);
      pki = await givenPki();
      // A CA of its own that issues the very SPIFFE IDs of zt.local: only the chain check can refuse it.
      foreign = await givenPki({ patch: {} });
      alice = await pki.tls('client-alice');
    });

    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.close()));
    });

    after(async () => {
      await pki?.cleanup();
      await foreign?.cleanup();
    });

    async function given(options: EdgeFixtureOptions): Promise<EdgeFixture> {
      const f = await givenEdgeFixture(kind, pki, options);
      fixtures.push(f);
      return f;
    }

    async function rate({ edge }: EdgeFixture): Promise<Reply> {
      return edge.send(alice, { method: 'POST', path: RATINGS, headers: { 'content-type': 'application/json' }, body: '{"score":5}' });
    }

    /** The JSON local reply of an upstream failure, naming the request authz saw. */
    function assertJsonReply(res: Reply, f: EdgeFixture, status: number, error: string): void {
      assert.equal(res.status, status);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.body, `{"error":"${error}","request_id":"${String(f.authz.received[0]?.headers['x-request-id'])}"}\n`);
    }

    function assertConnectFailure(res: Reply, f: EdgeFixture): void {
      assertJsonReply(res, f, 503, 'unavailable');
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.headers['x-ratelimit-limit'], '60', "authz's allowed_client_headers_on_success go with the edge's own answer too");
    }

    it("answers 503 and forwards nothing when the upstream presents authz's SPIFFE ID", async () => {
      const f = await given({ rating: { workload: 'authz' } });
      assertConnectFailure(await rate(f), f);
      assert.equal(f.rating.arrivals, 0, 'the request never reached the impostor');
      assert.equal(f.authz.received.length, 1, 'authz allowed it first');
      const failures = await verifyFailures(f.edge);
      assert.ok(failures.rating_api.san > 0, 'the SAN matcher refused it');
      assert.equal(failures.rating_api.chain, 0, 'its chain was fine');
      assert.deepEqual(failures.authz, { chain: 0, san: 0 });
    });

    it('answers 503 and forwards nothing when the upstream presents a certificate from a foreign CA', async () => {
      const f = await given({ rating: { issuer: foreign } });
      assertConnectFailure(await rate(f), f);
      assert.equal(f.rating.arrivals, 0, 'the request never reached a peer outside the trust bundle');
      const failures = await verifyFailures(f.edge);
      assert.ok(failures.rating_api.chain > 0, 'the chain check refused it');
      assert.deepEqual(failures.authz, { chain: 0, san: 0 });
    });

    it('answers 503 unavailable with flag UF when nothing listens where the route goes', async () => {
      const f = await given({ rating: { dead: true } });
      const res = await rate(f);
      assertConnectFailure(res, f);
      const line = await f.edge.accessLine(String(f.authz.received[0]?.headers['x-request-id']));
      assert.equal(line.response_flags, 'UF');
      assert.match(String(line.response_code_details), /^upstream_reset_before_response_started\{remote_connection_failure/);
      assert.equal(line.upstream_cluster, 'rating_api');
      assert.deepEqual(await verifyFailures(f.edge), { authz: { chain: 0, san: 0 }, rating_api: { chain: 0, san: 0 } });
    });

    it('answers 504 upstream_timeout when the rating API holds its answer past the route timeout', async () => {
      const held: (() => void)[] = [];
      const f = await given({
        rating: {
          respond: (_req, res) => {
            // Answers only when the test lets it, after the edge has given up (envoy.yaml: 5 s).
            held.push(() => res.end());
          },
        },
      });
      const res = await rate(f);
      const stillHeld = held.length;
      held.forEach((release) => release());
      assertJsonReply(res, f, 504, 'upstream_timeout');
      assert.equal(stillHeld, 1, 'the upstream was still holding the request when the edge answered');
      const line = await f.edge.accessLine(String(f.authz.received[0]?.headers['x-request-id']));
      assert.equal(line.response_flags, 'UT');
      assert.equal(line.response_code_details, 'response_timeout');
    });
  });
}
