import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { EDGE_KINDS, type ClientTls, type EdgeUnderTest, type Reply } from '../../helpers/edge-under-test.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { waitFor } from '../../helpers/wait-for.js';
import { allow, denyBody, givenEdgeFixture, skipUnlessRunnable, verifyFailures, type EdgeFixture, type EdgeFixtureOptions } from './given-edge.js';

const RATINGS = '/v1/tenants/acme/items/widget/ratings';

/**
 * Denials and failures of the policy service, through the dev edge and through Envoy. The authz
 * stand-ins are recording mTLS servers made to deny, stall, fail, present the wrong identity or a
 * foreign CA's certificate, which the real service cannot be made to do. Each test gets its own
 * edge (for Envoy, its own network: the stand-in must sit where envoy.yaml sends the check).
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: denials pass through and authz failures fail closed`, () => {
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

    async function given(options: EdgeFixtureOptions = {}): Promise<EdgeFixture> {
      const f = await givenEdgeFixture(kind, pki, options);
      fixtures.push(f);
      return f;
    }

    /** The edge's unavailable answer: 503 with the JSON body every deny has and the id it minted. */
    function assertUnavailable(res: Reply): string {
      assert.equal(res.status, 503);
      assert.equal(res.headers['content-type'], 'application/json');
      const body = denyBody(res);
      assert.equal(body.error, 'unavailable');
      assert.match(String(body.request_id), /^[0-9a-f-]{36}$/);
      return String(body.request_id);
    }

    /** A test where no peer was meant to fail verification leaves every such counter at 0. */
    async function assertNoVerifyFailures(edge: EdgeUnderTest): Promise<void> {
      assert.deepEqual(await verifyFailures(edge), { authz: { chain: 0, san: 0 }, rating_api: { chain: 0, san: 0 } });
    }

    it('passes a denial through with its status, its body and only the allowed client headers', async () => {
      const body = JSON.stringify({ error: 'rate_limited', request_id: 'from-authz' });
      const { edge, authz, rating } = await given({
        authz: {
          respond: (req, res) => {
            res.writeHead(429, {
              'content-type': 'application/json',
              'retry-after': '3',
              'x-ratelimit-limit': '5',
              'x-ratelimit-remaining': '0',
              'x-ratelimit-reset': '3',
              'x-request-id': String(req.headers['x-request-id']),
              'x-zt-subject': 'alice',
              'set-cookie': 'tracking=1',
              'x-internal-decision-trace': 'must-not-leak',
            });
            res.end(body);
          },
        },
      });
      const res = await edge.send(alice, { path: RATINGS });
      assert.equal(res.status, 429);
      assert.equal(res.body, body, 'the body byte for byte');
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['retry-after'], '3');
      assert.equal(res.headers['x-ratelimit-remaining'], '0');
      assert.equal(res.headers['x-request-id'], authz.received[0]?.headers['x-request-id']);
      for (const leaked of ['x-zt-subject', 'set-cookie', 'x-internal-decision-trace']) {
        assert.equal(res.headers[leaked], undefined, `${leaked} is not an allowed client header`);
      }
      assert.equal(rating.received.length, 0, 'a denied request is never forwarded');
      const line = await edge.accessLine(String(authz.received[0]?.headers['x-request-id']));
      assert.equal(line.response_flags, 'UAEX');
      assert.equal(line.response_code_details, 'ext_authz_denied');
      assert.equal(line.status, 429);
      assert.equal(line.upstream_cluster, 'rating_api', 'the route was chosen before authz was asked');
      assert.equal(line.upstream_host, null);
      await assertNoVerifyFailures(edge);
    });

    it('passes a 401 through with its www-authenticate challenge', async () => {
      const { edge, rating } = await given({
        authz: {
          respond: (req, res) => {
            res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
            res.end(JSON.stringify({ error: 'missing_token', request_id: req.headers['x-request-id'] }));
          },
        },
      });
      const res = await edge.send(alice, { path: RATINGS });
      assert.equal(res.status, 401);
      assert.equal(denyBody(res).error, 'missing_token');
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
      assert.equal(rating.received.length, 0);
    });

    it('answers 503 unavailable when authz is slower than the timeout, and never forwards', async () => {
      const held: (() => void)[] = [];
      const { edge, authz, rating } = await given({
        authz: {
          respond: (req, res, body) => {
            // Answers "allow" only when the test lets it, after the edge has replied.
            held.push(() => allow(req, res, body));
          },
        },
      });
      const res = await edge.send(alice, { path: RATINGS });
      const stillHeld = held.length;
      held.forEach((release) => release());
      const id = assertUnavailable(res);
      assert.equal(authz.received.length, 1, 'authz was asked');
      assert.equal(rating.received.length, 0, 'nothing was forwarded');
      // The edge answered on its own deadline: authz had not answered when the reply came.
      assert.equal(stillHeld, 1, 'authz was still holding the check when the edge replied');
      const line = await edge.accessLine(id);
      assert.equal(line.response_flags, 'UAEX');
      assert.equal(line.response_code_details, 'ext_authz_error');
      assert.equal(line.status, 503);
      await assertNoVerifyFailures(edge);
    });

    it('answers 503 unavailable when nothing listens where the check goes', async () => {
      const { edge, rating } = await given({ authz: { dead: true } });
      assertUnavailable(await edge.send(alice, { path: RATINGS }));
      assert.equal(rating.received.length, 0);
      await assertNoVerifyFailures(edge);
    });

    it("answers 503 unavailable when the authz peer presents the rating API's SPIFFE ID, and never sends it the check", async () => {
      const { edge, authz, rating } = await given({ authz: { workload: 'rating-api' } });
      assertUnavailable(await edge.send(alice, { path: RATINGS }));
      assert.equal(authz.arrivals, 0, 'the check never reached a peer that is not authz');
      assert.equal(rating.received.length, 0);
      const failures = await verifyFailures(edge);
      assert.ok(failures.authz.san > 0, 'the SAN matcher refused it');
      assert.equal(failures.authz.chain, 0, 'its chain was fine');
    });

    it('answers 503 unavailable when the authz peer presents a certificate from a foreign CA, and never sends it the check', async () => {
      const { edge, authz, rating } = await given({ authz: { issuer: foreign } });
      assertUnavailable(await edge.send(alice, { path: RATINGS }));
      assert.equal(authz.arrivals, 0, 'the check never reached a peer outside the trust bundle');
      assert.equal(rating.received.length, 0);
      const failures = await verifyFailures(edge);
      assert.ok(failures.authz.chain > 0, 'the chain check refused it');
    });

    it("answers 503 unavailable when authz answers 5xx, and passes none of authz's answer on, as Envoy's HTTP ext_authz does", async () => {
      const { edge, authz, rating } = await given({
        authz: {
          respond: (_req, res) => {
            res.writeHead(500, { 'content-type': 'application/json', 'x-ratelimit-limit': '7', 'retry-after': '9' });
            res.end(JSON.stringify({ error: 'policy_error', request_id: 'from-authz' }));
          },
        },
      });
      const res = await edge.send(alice, { path: RATINGS });
      const id = assertUnavailable(res);
      assert.equal(id, authz.received[0]?.headers['x-request-id'], "the edge's own answer, with the id it minted");
      assert.equal(res.headers['x-ratelimit-limit'], undefined);
      assert.equal(res.headers['retry-after'], '1', "the edge's own retry-after (local_reply_config), not authz's 9");
      assert.equal(rating.received.length, 0);
      const line = await edge.accessLine(id);
      assert.equal(line.response_code_details, 'ext_authz_error');
      await assertNoVerifyFailures(edge);
    });

    it('forwards nothing when the client hangs up while authz is deciding', async () => {
      let answered: () => void = () => undefined;
      const allowDone = new Promise<void>((resolve) => {
        answered = resolve;
      });
      const { edge, authz, rating } = await given({
        authz: {
          respond: (req, res, body) => {
            // Allow only once the edge has logged the client's hang-up (flag DC); Envoy may have
            // cancelled the check by then, so the answer counts as done when it is sent or dropped.
            void edge.accessLine(String(req.headers['x-request-id'])).then(() => {
              if (res.closed) answered();
              else res.once('close', answered);
              allow(req, res, body);
            });
          },
        },
      });
      const socket = connect(edge.tlsOptions(alice), () => {
        socket.write(`DELETE ${RATINGS}/bob HTTP/1.1\r\nhost: edge\r\n\r\n`);
      });
      socket.on('error', () => undefined);
      // Hang up as soon as authz has the check.
      await waitFor('authz to receive the check', () => (authz.received.length > 0 ? true : undefined));
      socket.destroy();
      await allowDone;
      authz.respond = allow;
      // A request after it through the same edge is a barrier: the abandoned one was handled first.
      const after = await edge.send(alice, { path: RATINGS });
      assert.equal(after.status, 201);
      assert.equal(rating.arrivals, 1, 'only the second request reached the upstream');
      assert.equal(rating.received[0]?.method, 'GET');
      const line = await edge.accessLine(String(authz.received[0]?.headers['x-request-id']));
      assert.equal(line.response_flags, 'DC');
      assert.equal(line.status, 0, 'no response was ever sent');
    });
  });
}
