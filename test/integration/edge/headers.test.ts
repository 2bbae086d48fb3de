import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { parseXfcc } from '../../../src/shared/xfcc.js';
import { EDGE_KINDS, type ClientTls, type Reply, type SendOptions } from '../../helpers/edge-under-test.js';
import { ALICE_SPIFFE_ID, created, useEdgeFixture, verifyFailures } from './given-edge.js';

/** Headers that describe one connection, not the request: each hop sets its own. */
const TRANSPORT = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function requestHeaderNames(headers: Record<string, unknown>): string[] {
  return Object.keys(headers)
    .filter((n) => !TRANSPORT.has(n))
    .sort();
}

/**
 * What the edge does to a request's headers on the way to authz and the upstream, through the dev
 * edge and through Envoy running envoy.yaml, with the same assertions. Authz and the rating API are
 * recording mTLS servers here: these tests must see the exact bytes the edge sent.
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: headers on the way to authz and upstream`, () => {
    const fixture = useEdgeFixture(kind);
    let alice: ClientTls;
    let agent: Agent;

    before(async () => {
      alice = await fixture().pki.tls('client-alice');
      agent = new Agent({ keepAlive: true, ...alice });
    });

    beforeEach(() => {
      fixture().authz.received.length = 0;
      fixture().rating.received.length = 0;
    });

    after(() => {
      agent?.destroy();
    });

    function send(options: SendOptions): Promise<Reply> {
      return fixture().edge.send(alice, options);
    }

    function post(path: string, headers: Record<string, string> = {}, body = '{}'): Promise<Reply> {
      return send({ method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body });
    }

    it('strips client-supplied x-zt-* and XFCC and sets XFCC from the verified client certificate', async () => {
      const { authz, rating } = fixture();
      const res = await post('/v1/tenants/acme/items/widget/ratings', {
        'x-zt-subject': 'mallory',
        'x-zt-roles': 'platform_admin',
        'x-zt-anything': 'forged',
        'x-forwarded-client-cert': `By=${fixture().pki.spiffeId('edge-us-east')};URI=${fixture().pki.spiffeId('client-bob')}`,
      }, '{"score":5}');
      assert.equal(res.status, 201);

      const leaf = new X509Certificate(alice.cert ?? '');
      // Cert is the leaf's PEM, URL-encoded (envoy.yaml set_current_client_cert_details.cert), so that
      // authz can read the certificate's extended key usage, which Envoy does not check.
      const expectedXfcc =
        `By=${fixture().pki.spiffeId('edge-us-east')};Hash=${createHash('sha256').update(leaf.raw).digest('hex')};` +
        `Cert="${encodeURIComponent(leaf.toString())}";` +
        `Subject="CN=client-alice,OU=client,O=${fixture().pki.spec.trustDomain}";URI=${fixture().pki.spiffeId('client-alice')}`;
      const [check] = authz.received;
      const [upstream] = rating.received;
      assert.ok(check && upstream, 'authz and the upstream each saw the request once');
      for (const seen of [check, upstream]) {
        assert.equal(seen.headers['x-forwarded-client-cert'], expectedXfcc, 'the XFCC bytes Envoy writes');
        assert.equal(parseXfcc(expectedXfcc).length, 1, 'exactly one element: the client-supplied one is gone');
        assert.equal(seen.headers['x-zt-anything'], undefined);
      }
      assert.equal(check.headers['x-zt-subject'], undefined, 'authz never sees a client-supplied x-zt-*');
      // Upstream, x-zt-* are exactly authz's allowed_upstream_headers, never the client's forgeries.
      assert.equal(upstream.headers['x-zt-subject'], 'alice');
      assert.equal(upstream.headers['x-zt-roles'], 'rater');
      assert.equal(upstream.headers['x-zt-tenant'], 'acme');
      assert.equal(upstream.headers['x-zt-client'], ALICE_SPIFFE_ID, "authz's value, as it sent it");
      assert.equal(upstream.headers['x-internal-decision-trace'], undefined, 'a response header authz did not allow stays out');
    });

    it('sends authz only the allowed request headers and its own two, the prefixed path with its query, and no body', async () => {
      const { authz, rating, edge } = fixture();
      const res = await post(
        '/v1/tenants/acme/items/widget/ratings?dry=1&x=%20y',
        { authorization: 'Bearer abc.def.ghi', cookie: 'session=1', 'x-custom': 'nope', 'user-agent': 'edge-test' },
        '{"score":4,"comment":"fine"}',
      );
      assert.equal(res.status, 201);
      const [check] = authz.received;
      assert.ok(check);
      assert.equal(check.method, 'POST');
      assert.equal(check.url, '/check/v1/tenants/acme/items/widget/ratings?dry=1&x=%20y');
      assert.equal(check.body.length, 0);
      assert.deepEqual(requestHeaderNames(check.headers), [
        'authorization',
        'content-length',
        'content-type',
        'host',
        'x-envoy-expected-rq-timeout-ms',
        'x-envoy-internal',
        'x-forwarded-client-cert',
        'x-request-id',
      ]);
      assert.equal(check.headers['content-length'], '0', 'the check says it has no body, whatever the client sent');
      assert.equal(check.headers.authorization, 'Bearer abc.def.ghi');
      assert.equal(check.headers.host, `${edge.address.host}:${edge.address.port}`, "the client's authority");
      assert.equal(check.headers['x-envoy-expected-rq-timeout-ms'], '250', "envoy.yaml's ext_authz timeout");
      assert.equal(check.headers['x-envoy-internal'], 'true', "the check is the edge's own request");
      assert.deepEqual(check.peerUris, [fixture().pki.spiffeId('edge-us-east')], 'the edge presents its own certificate to authz');

      const [upstream] = rating.received;
      assert.ok(upstream);
      assert.equal(upstream.body.toString('utf8'), '{"score":4,"comment":"fine"}');
      assert.equal(upstream.headers.cookie, 'session=1', 'the upstream gets the client request, only authz is restricted');
      assert.equal(upstream.headers['x-custom'], 'nope');
      assert.deepEqual(upstream.peerUris, [fixture().pki.spiffeId('edge-us-east')]);
    });

    it('sends the upstream the client request plus exactly the headers Envoy adds', async () => {
      const { rating, edge } = fixture();
      const res = await post('/v1/tenants/acme/items/widget/ratings', { 'x-forwarded-for': '203.0.113.9', 'user-agent': 'edge-test' }, '{"score":3}');
      assert.equal(res.status, 201);
      const [upstream] = rating.received;
      assert.ok(upstream);
      assert.deepEqual(requestHeaderNames(upstream.headers), [
        'content-length',
        'content-type',
        'host',
        'user-agent',
        'x-envoy-expected-rq-timeout-ms',
        'x-envoy-external-address',
        'x-forwarded-client-cert',
        'x-forwarded-for',
        'x-forwarded-proto',
        'x-request-id',
        'x-zt-client',
        'x-zt-roles',
        'x-zt-subject',
        'x-zt-tenant',
      ]);
      assert.equal(upstream.headers.host, `${edge.address.host}:${edge.address.port}`, "the client's Host, not rewritten");
      assert.equal(upstream.headers['content-length'], '11');
      assert.equal(upstream.headers['x-forwarded-for'], `203.0.113.9,${edge.clientAddress}`, 'the peer address appended (use_remote_address)');
      assert.equal(upstream.headers['x-forwarded-proto'], 'https');
      assert.equal(upstream.headers['x-envoy-external-address'], edge.clientAddress);
      assert.equal(upstream.headers['x-envoy-expected-rq-timeout-ms'], '5000', "envoy.yaml's route timeout");
      // This client asked to close its connection (no agent): that is about its hop, not the edge's.
      assert.notEqual(upstream.headers.connection, 'close', "the client's Connection header stays on its hop");
    });

    it("drops the client's steering x-envoy-* headers and hop-by-hop headers, and passes other x-envoy-* names on", async () => {
      const { rating, edge } = fixture();
      const res = await send({
        path: '/v1/tenants/acme/items/widget/ratings',
        headers: {
          'x-envoy-retry-on': '5xx',
          'x-envoy-max-retries': '3',
          'x-envoy-upstream-rq-timeout-ms': '1',
          'x-envoy-expected-rq-timeout-ms': '1',
          'x-envoy-original-path': '/v1/tenants/globex/items/widget/ratings',
          'x-envoy-internal': 'true',
          'x-envoy-external-address': '198.51.100.7',
          'x-envoy-force-trace': 'true',
          'x-envoy-something-else': 'kept',
          'keep-alive': 'timeout=5',
          'proxy-connection': 'keep-alive',
        },
      });
      assert.equal(res.status, 201);
      const [upstream] = rating.received;
      assert.ok(upstream);
      const envoyNames = Object.keys(upstream.headers).filter((n) => n.startsWith('x-envoy-')).sort();
      assert.deepEqual(envoyNames, ['x-envoy-expected-rq-timeout-ms', 'x-envoy-external-address', 'x-envoy-something-else']);
      assert.equal(upstream.headers['x-envoy-expected-rq-timeout-ms'], '5000', 'the client cannot shorten or lengthen the deadline');
      assert.equal(upstream.headers['x-envoy-external-address'], edge.clientAddress, 'the real peer, not the claimed one');
      assert.equal(upstream.headers['proxy-connection'], undefined);
      assert.equal(upstream.headers['keep-alive'], undefined);
    });

    it('mints x-request-id and replaces a client-supplied one, and authz and the upstream see the same id', async () => {
      const { authz, rating, edge } = fixture();
      const res = await post('/v1/tenants/acme/items/widget/ratings', { 'x-request-id': 'client-chosen' });
      assert.equal(res.status, 201);
      const id = authz.received[0]?.headers['x-request-id'];
      assert.match(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(rating.received[0]?.headers['x-request-id'], id);
      const line = await edge.accessLine(String(id));
      assert.equal(line.request_id, id, 'the access log carries the minted id');
    });

    it('adds the allowed client-on-success headers to the response and nothing else from authz', async () => {
      const res = await post('/v1/tenants/acme/items/widget/ratings');
      assert.equal(res.status, 201);
      assert.equal(res.headers['x-ratelimit-limit'], '60');
      assert.equal(res.headers['x-ratelimit-remaining'], '59');
      assert.equal(res.headers['x-ratelimit-reset'], '1');
      assert.equal(res.headers['x-zt-subject'], undefined);
      assert.equal(res.headers['x-internal-decision-trace'], undefined);
      assert.deepEqual(JSON.parse(res.body), { ok: true });
    });

    it('streams a request body to the upstream before the client has finished sending it', async () => {
      const { authz, rating } = fixture();
      let firstChunk: () => void = () => undefined;
      const firstChunkUpstream = new Promise<boolean>((resolve) => {
        firstChunk = () => resolve(true);
      });
      rating.onData = firstChunk;
      rating.respond = (_req, res, body) => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: body.length }));
      };
      const half = 'x'.repeat(64 * 1024);
      let arrivedEarly = false;
      try {
        const res = await send({
          method: 'POST',
          path: '/v1/tenants/acme/items/widget/ratings',
          headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
          body: (req) => {
            req.write(half);
            // The second half goes only once the upstream holds part of the first, which cannot
            // happen if the edge buffered the body. The deadline only breaks that deadlock.
            void Promise.race([firstChunkUpstream, delay(10_000).then(() => false)]).then((early) => {
              arrivedEarly = early;
              req.end(half);
            });
          },
          agent,
        });
        assert.ok(arrivedEarly, 'the upstream received body bytes while the client was still sending');
        assert.equal(res.status, 201);
        assert.deepEqual(JSON.parse(res.body), { bytes: 2 * half.length });
        assert.equal(authz.received.at(-1)?.body.length, 0, 'authz got no body');
      } finally {
        rating.onData = undefined;
        rating.respond = created;
      }
    });

    it('normalises the path before authz sees it, so authz and upstream agree on the tenant', async () => {
      const { authz, rating } = fixture();
      const res = await post('/v1/tenants/globex/..//acme/./items/%2e%2e/items/widget/ratings');
      assert.equal(res.status, 201);
      assert.equal(authz.received[0]?.url, '/check/v1/tenants/acme/items/widget/ratings');
      assert.equal(rating.received[0]?.url, '/v1/tenants/acme/items/widget/ratings');
    });

    it('rejects an escaped slash in the path with 400 before minting a request id, and asks nobody', async () => {
      const { authz, rating, edge } = fixture();
      const res = await post('/v1/tenants/acme%2F..%2Fglobex/items/widget/ratings');
      assert.equal(res.status, 400);
      assert.equal(res.body, '{"error":"bad_request","request_id":null}\n');
      assert.equal(authz.received.length, 0);
      assert.equal(rating.received.length, 0);
      const line = await edge.accessLine((l) => l.status === 400 && l.response_code_details === 'path_normalization_failed');
      assert.equal(line.request_id, null);
      assert.equal(line.response_flags, null);
    });

    it('answers 404 without asking authz when no envoy.yaml route matches the path, and forwards nothing', async () => {
      const { authz, rating, edge } = fixture();
      const res = await post('/v2/tenants/acme/items/widget/ratings');
      assert.equal(res.status, 404);
      assert.equal(authz.received.length, 0, 'ext_authz does not run for a request no route takes');
      assert.equal(rating.received.length, 0);
      const line = await edge.accessLine((l) => l.status === 404 && l.path === '/v2/tenants/acme/items/widget/ratings');
      assert.equal(line.response_code_details, 'route_not_found');
      assert.equal(line.response_flags, 'NR');
      assert.equal(line.upstream_cluster, null);
    });

    it('rejects a header name with an underscore with 400 in the codec, as headers_with_underscores_action does', async () => {
      const { authz, rating, edge } = fixture();
      const res = await post('/v1/tenants/acme/items/widget/ratings', { x_zt_subject: 'mallory' });
      assert.equal(res.status, 400);
      assert.equal(authz.received.length, 0);
      assert.equal(rating.received.length, 0);
      const line = await edge.accessLine((l) => l.response_code_details === 'http1.unexpected_underscore');
      assert.equal(line.status, 400);
      assert.equal(line.response_flags, 'DPE');
      assert.equal(line.method, null, 'refused before there was a request');
      assert.equal(line.request_id, null);
    });

    it('writes one Envoy-shaped access log line with the client identity, status and duration', async () => {
      const { rating, edge } = fixture();
      const res = await post('/v1/tenants/acme/items/widget/ratings', { 'user-agent': 'log-test' }, '{"score":1}');
      assert.equal(res.status, 201);
      const id = rating.received[0]?.headers['x-request-id'];
      const line = await edge.accessLine(String(id));
      assert.equal(edge.accessLines().filter((l) => l.request_id === id).length, 1);
      assert.equal(line.service, 'edge');
      assert.equal(line.msg, 'access');
      assert.equal(line.method, 'POST');
      assert.equal(line.path, '/v1/tenants/acme/items/widget/ratings');
      assert.equal(line.authority, `${edge.address.host}:${edge.address.port}`);
      assert.equal(line.protocol, 'HTTP/1.1');
      assert.equal(line.status, 201);
      assert.equal(line.response_code_details, 'via_upstream');
      assert.equal(typeof line.duration_ms, 'number');
      assert.match(String(line.upstream_service_time_ms), /^\d+$/);
      assert.equal(line.downstream_peer_uri_san, fixture().pki.spiffeId('client-alice'));
      assert.equal(line.downstream_local_uri_san, fixture().pki.spiffeId('edge-us-east'));
      assert.equal(line.downstream_remote_address, edge.clientAddress);
      assert.equal(line.upstream_cluster, 'rating_api');
      assert.equal(line.upstream_host, new URL(rating.url).host);
      assert.equal(line.bytes_received, '{"score":1}'.length);
      assert.equal(line.bytes_sent, '{"ok":true}'.length);
      assert.equal(line.tls_version, 'TLSv1.3');
      assert.equal(line.user_agent, 'log-test');
      assert.equal(line.response_flags, null);
    });

    it('ends the suite with no failed certificate verification on either upstream cluster', async () => {
      assert.deepEqual(await verifyFailures(fixture().edge), { authz: { chain: 0, san: 0 }, rating_api: { chain: 0, san: 0 } });
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
