import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import supertest from 'supertest';
import { parseXfcc } from '../../../src/shared/xfcc.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { accessLine, allow, created, givenEdge, givenRecordingServer, send, type RecordingServer, type RunningEdge } from './given-edge.js';

/**
 * What the edge does to a request's headers on the way to authz and the upstream. Authz and the
 * rating API are recording mTLS servers here: these tests must see the exact bytes the edge sent,
 * which the real services do not echo.
 */
describe('dev edge: headers on the way to authz and upstream', () => {
  let pki: TestPki;
  let authz: RecordingServer;
  let rating: RecordingServer;
  let edge: RunningEdge;
  let alice: { cert: string; key: string; ca: string };
  let agent: Agent;

  before(async () => {
    pki = await givenPki();
    authz = await givenRecordingServer(pki, 'authz', allow);
    rating = await givenRecordingServer(pki, 'rating-api', created);
    edge = await givenEdge(pki, { authzUrl: authz.url, ratingUrl: rating.url });
    alice = await pki.tls('client-alice');
    agent = new Agent({ keepAlive: true, ...alice });
  });

  beforeEach(() => {
    authz.received.length = 0;
    rating.received.length = 0;
  });

  after(async () => {
    agent.destroy();
    await edge.close();
    await Promise.all([authz.close(), rating.close()]);
    await pki.cleanup();
  });

  function post(path: string): supertest.Test {
    return supertest(`https://127.0.0.1:${edge.port}`).post(path).ca(alice.ca).cert(alice.cert).key(alice.key);
  }

  it('strips client-supplied x-zt-* and XFCC and sets XFCC from the verified client certificate', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings')
      .set('x-zt-subject', 'mallory')
      .set('x-zt-roles', 'platform_admin')
      .set('x-zt-anything', 'forged')
      .set('x-forwarded-client-cert', 'By=spiffe://zt.local/us-east/edge/envoy;URI=spiffe://zt.local/eu-central/client/bob')
      .set('content-type', 'application/json')
      .send('{"score":5}');
    assert.equal(res.status, 201);

    const leaf = new X509Certificate(alice.cert);
    const expectedXfcc =
      `By=spiffe://zt.local/us-east/edge/envoy;Hash=${createHash('sha256').update(leaf.raw).digest('hex')};` +
      'Subject="CN=client-alice,OU=client,O=zt.local";URI=spiffe://zt.local/us-east/client/alice';
    const [check] = authz.received;
    const [upstream] = rating.received;
    assert.ok(check && upstream, 'authz and the upstream each saw the request once');
    for (const seen of [check, upstream]) {
      assert.equal(seen.headers['x-forwarded-client-cert'], expectedXfcc);
      assert.equal(parseXfcc(expectedXfcc).length, 1, 'exactly one element: the client-supplied one is gone');
      assert.equal(seen.headers['x-zt-anything'], undefined);
    }
    assert.equal(check.headers['x-zt-subject'], undefined, 'authz never sees a client-supplied x-zt-*');
    // Upstream, x-zt-* are exactly authz's allowed_upstream_headers, never the client's forgeries.
    assert.equal(upstream.headers['x-zt-subject'], 'alice');
    assert.equal(upstream.headers['x-zt-roles'], 'rater');
    assert.equal(upstream.headers['x-zt-tenant'], 'acme');
    assert.equal(upstream.headers['x-zt-client'], 'spiffe://zt.local/us-east/client/alice');
    assert.equal(upstream.headers['x-internal-decision-trace'], undefined, 'a response header authz did not allow stays out');
  });

  it('sends authz only the allowed request headers, the prefixed path with its query, and no body', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings?dry=1&x=%20y')
      .set('authorization', 'Bearer abc.def.ghi')
      .set('content-type', 'application/json')
      .set('cookie', 'session=1')
      .set('x-custom', 'nope')
      .set('user-agent', 'edge-test')
      .send('{"score":4,"comment":"fine"}');
    assert.equal(res.status, 201);
    const [check] = authz.received;
    assert.ok(check);
    assert.equal(check.method, 'POST');
    assert.equal(check.url, '/check/v1/tenants/acme/items/widget/ratings?dry=1&x=%20y');
    assert.equal(check.body.length, 0);
    assert.deepEqual(Object.keys(check.headers).sort(), ['authorization', 'content-length', 'content-type', 'host', 'x-forwarded-client-cert', 'x-request-id', 'connection'].sort());
    assert.equal(check.headers['content-length'], '0', 'the check says it has no body, whatever the client sent');
    assert.equal(check.headers.authorization, 'Bearer abc.def.ghi');
    assert.deepEqual(check.peerUris, ['spiffe://zt.local/us-east/edge/envoy'], 'the edge presents its own certificate to authz');

    const [upstream] = rating.received;
    assert.ok(upstream);
    assert.equal(upstream.body.toString('utf8'), '{"score":4,"comment":"fine"}');
    assert.equal(upstream.headers.cookie, 'session=1', 'the upstream gets the client request, only authz is restricted');
    assert.equal(upstream.headers['x-custom'], 'nope');
    assert.deepEqual(upstream.peerUris, ['spiffe://zt.local/us-east/edge/envoy']);
  });

  it('mints x-request-id and replaces a client-supplied one, and authz and the upstream see the same id', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings').set('x-request-id', 'client-chosen').send('{}');
    assert.equal(res.status, 201);
    const id = authz.received[0]?.headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(rating.received[0]?.headers['x-request-id'], id);
    const line = await accessLine(edge, String(id));
    assert.equal(line.request_id, id, 'the access log carries the minted id');
  });

  it('adds the allowed client-on-success headers to the response and nothing else from authz', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings').send('{}');
    assert.equal(res.status, 201);
    assert.equal(res.headers['x-ratelimit-limit'], '60');
    assert.equal(res.headers['x-ratelimit-remaining'], '59');
    assert.equal(res.headers['x-ratelimit-reset'], '1');
    assert.equal(res.headers['x-zt-subject'], undefined);
    assert.equal(res.headers['x-internal-decision-trace'], undefined);
    assert.deepEqual(res.body, { ok: true });
  });

  it('streams a request body to the upstream before the client has finished sending it', async () => {
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
      const reply = send(edge.port, alice, {
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
      const res = await reply;
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
    const res = await post('/v1/tenants/globex/..//acme/./items/%2e%2e/items/widget/ratings').send('{}');
    assert.equal(res.status, 201);
    assert.equal(authz.received[0]?.url, '/check/v1/tenants/acme/items/widget/ratings');
    assert.equal(rating.received[0]?.url, '/v1/tenants/acme/items/widget/ratings');
  });

  it('rejects an escaped slash in the path with 400 and asks nobody', async () => {
    const res = await post('/v1/tenants/acme%2F..%2Fglobex/items/widget/ratings').send('{}');
    assert.equal(res.status, 400);
    assert.equal(authz.received.length, 0);
    assert.equal(rating.received.length, 0);
    const line = await accessLine(edge, (l) => l.status === 400 && l.path === '/v1/tenants/acme%2F..%2Fglobex/items/widget/ratings');
    assert.equal(line.response_code_details, 'path_has_escaped_slashes');
  });

  it('answers 404 after authz allows a path that no envoy.yaml route matches, and forwards nothing', async () => {
    const res = await post('/v2/tenants/acme/items/widget/ratings').send('{}');
    assert.equal(res.status, 404);
    assert.equal(authz.received[0]?.url, '/check/v2/tenants/acme/items/widget/ratings', 'ext_authz runs before the router, as in Envoy');
    assert.equal(rating.received.length, 0);
    const line = await accessLine(edge, (l) => l.status === 404 && l.path === '/v2/tenants/acme/items/widget/ratings');
    assert.equal(line.response_code_details, 'route_not_found');
  });

  it('rejects a header name with an underscore with 400, as headers_with_underscores_action does', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings').set('x_zt_subject', 'mallory').send('{}');
    assert.equal(res.status, 400);
    assert.equal(authz.received.length, 0);
    assert.equal(rating.received.length, 0);
  });

  it('writes one Envoy-shaped access log line with the client identity, status and duration', async () => {
    const res = await post('/v1/tenants/acme/items/widget/ratings').set('user-agent', 'log-test').send('{"score":1}');
    assert.equal(res.status, 201);
    const id = rating.received[0]?.headers['x-request-id'];
    const line = await accessLine(edge, String(id));
    assert.equal(edge.logs.filter((l) => l.msg === 'access' && l.request_id === id).length, 1);
    assert.equal(line.service, 'edge');
    assert.equal(line.region, 'us-east');
    assert.equal(line.method, 'POST');
    assert.equal(line.path, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(line.status, 201);
    assert.equal(typeof line.duration_ms, 'number');
    assert.equal(line.downstream_peer_uri_san, 'spiffe://zt.local/us-east/client/alice');
    assert.equal(line.downstream_local_uri_san, 'spiffe://zt.local/us-east/edge/envoy');
    assert.equal(line.upstream_cluster, 'rating_api');
    assert.equal(line.bytes_received, '{"score":1}'.length);
    assert.equal(line.bytes_sent, '{"ok":true}'.length);
    assert.equal(line.user_agent, 'log-test');
    assert.equal(line.response_flags, null);
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
