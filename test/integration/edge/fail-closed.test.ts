import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import supertest from 'supertest';
import { loadEnvoyConfig } from '../../../src/edge/envoy-config.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { accessLine, allow, created, deadPort, ENVOY_YAML, givenEdge, givenRecordingServer, type RecordingServer, type RunningEdge } from './given-edge.js';

/**
 * Denials and failures of the policy service. The authz stand-ins here are recording mTLS servers
 * made to deny, stall or present the wrong identity, which the real service cannot be made to do.
 */
describe('dev edge: denials pass through and authz failures fail closed', () => {
  let pki: TestPki;
  let authz: RecordingServer;
  let rating: RecordingServer;
  let alice: { cert: string; key: string; ca: string };
  let statusOnError: number;
  const edges: RunningEdge[] = [];

  before(async () => {
    pki = await givenPki();
    authz = await givenRecordingServer(pki, 'authz', allow);
    rating = await givenRecordingServer(pki, 'rating-api', created);
    alice = await pki.tls('client-alice');
    statusOnError = (await loadEnvoyConfig(ENVOY_YAML)).authz.statusOnError;
  });

  beforeEach(() => {
    authz.respond = allow;
    authz.received.length = 0;
    rating.received.length = 0;
  });

  after(async () => {
    await Promise.all(edges.map((e) => e.close()));
    await Promise.all([authz.close(), rating.close()]);
    await pki.cleanup();
  });

  async function edgeTo(authzUrl: string): Promise<RunningEdge> {
    const e = await givenEdge(pki, { authzUrl, ratingUrl: rating.url });
    edges.push(e);
    return e;
  }

  function get(edge: RunningEdge, path: string): supertest.Test {
    return supertest(`https://127.0.0.1:${edge.port}`).get(path).ca(alice.ca).cert(alice.cert).key(alice.key);
  }

  it('passes a denial through with its status, its body and only the allowed client headers', async () => {
    const edge = await edgeTo(authz.url);
    const body = JSON.stringify({ error: 'rate_limited', request_id: 'from-authz' });
    authz.respond = (req, res) => {
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
    };
    const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(res.status, 429);
    assert.equal(res.text, body);
    assert.deepEqual(res.body, { error: 'rate_limited', request_id: 'from-authz' });
    assert.equal(res.headers['retry-after'], '3');
    assert.equal(res.headers['x-ratelimit-remaining'], '0');
    assert.equal(res.headers['x-request-id'], authz.received[0]?.headers['x-request-id']);
    for (const leaked of ['x-zt-subject', 'set-cookie', 'x-internal-decision-trace']) {
      assert.equal(res.headers[leaked], undefined, `${leaked} is not an allowed client header`);
    }
    assert.equal(rating.received.length, 0, 'a denied request is never forwarded');
    const line = await accessLine(edge, String(authz.received[0]?.headers['x-request-id']));
    assert.equal(line.response_flags, 'UAEX');
    assert.equal(line.response_code_details, 'ext_authz_denied');
    assert.equal(line.status, 429);
  });

  it('passes a 401 through with its www-authenticate challenge', async () => {
    const edge = await edgeTo(authz.url);
    authz.respond = (req, res) => {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end(JSON.stringify({ error: 'missing_token', request_id: req.headers['x-request-id'] }));
    };
    const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(res.status, 401);
    assert.equal((res.body as { error: string }).error, 'missing_token');
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.equal(rating.received.length, 0);
  });

  it('answers unavailable with the configured status when authz is slower than the timeout, and never forwards', async () => {
    const edge = await edgeTo(authz.url);
    const held: (() => void)[] = [];
    authz.respond = (req, res, body) => {
      // Answers "allow" only when the test lets it, after the edge has replied.
      held.push(() => allow(req, res, body));
    };
    const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    const stillHeld = held.length;
    held.forEach((release) => release());
    assert.equal(res.status, statusOnError);
    assert.equal((res.body as { error: string }).error, 'unavailable');
    assert.match(String((res.body as { request_id: string }).request_id), /^[0-9a-f-]{36}$/);
    assert.equal(authz.received.length, 1, 'authz was asked');
    assert.equal(rating.received.length, 0, 'nothing was forwarded');
    // The edge answered on its own deadline: authz had not answered when the reply came.
    assert.equal(stillHeld, 1, 'authz was still holding the check when the edge replied');
    const line = await accessLine(edge, (res.body as { request_id: string }).request_id);
    assert.equal(line.response_flags, 'UAEX');
    assert.equal(line.response_code_details, 'ext_authz_error');
    assert.equal(line.status, statusOnError);
  });

  it('answers unavailable at once when nothing listens at AUTHZ_URL', async () => {
    const edge = await edgeTo(`https://127.0.0.1:${await deadPort()}`);
    const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(res.status, statusOnError);
    assert.equal((res.body as { error: string }).error, 'unavailable');
    assert.equal(rating.received.length, 0);
  });

  it('answers unavailable when the authz peer presents another SPIFFE ID, and never sends it the check', async () => {
    const impostor = await givenRecordingServer(pki, 'rating-api', allow);
    try {
      const edge = await edgeTo(impostor.url);
      const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
      assert.equal(res.status, statusOnError);
      assert.equal((res.body as { error: string }).error, 'unavailable');
      assert.equal(impostor.received.length, 0, 'the check never reached a peer that is not authz');
      assert.equal(rating.received.length, 0);
      const warn = edge.logs.find((l) => l.msg === 'local reply' && typeof l.err === 'string' && l.err.includes('expected exactly spiffe://zt.local/global/svc/authz'));
      assert.ok(warn, 'the log names the identity mismatch');
    } finally {
      await impostor.close();
    }
  });

  it('forwards nothing when the client hangs up while authz is deciding', async () => {
    const edge = await edgeTo(authz.url);
    const arrivalsBefore = rating.arrivals;
    let answered: () => void = () => undefined;
    const allowSent = new Promise<void>((resolve) => {
      answered = resolve;
    });
    authz.respond = (req, res, body) => {
      // Allow only once the edge has logged the client's hang-up (flag DC), then let the test go on.
      void accessLine(edge, String(req.headers['x-request-id'])).then(() => {
        res.once('finish', answered);
        allow(req, res, body);
      });
    };
    const socket = connect({ host: '127.0.0.1', port: edge.port, ...alice }, () => {
      socket.write('DELETE /v1/tenants/acme/items/widget/ratings/bob HTTP/1.1\r\nhost: edge\r\n\r\n');
    });
    socket.on('error', () => undefined);
    // Hang up as soon as authz has the check.
    while (authz.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    socket.destroy();
    await allowSent;
    authz.respond = allow;
    // A request after it through the same edge is a barrier: the abandoned one was handled first.
    const after = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(after.status, 201);
    assert.equal(rating.arrivals - arrivalsBefore, 1, 'only the second request reached the upstream');
    assert.equal(rating.received.length, 1);
    assert.equal(rating.received[0]?.method, 'GET');
    const line = await accessLine(edge, String(authz.received[0]?.headers['x-request-id']));
    assert.equal(line.response_flags, 'DC');
  });

  it('treats an authz 5xx as a denial with that status, as Envoy does with any non-200', async () => {
    const edge = await edgeTo(authz.url);
    authz.respond = (req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unavailable', request_id: req.headers['x-request-id'] }));
    };
    const res = await get(edge, '/v1/tenants/acme/items/widget/ratings');
    assert.equal(res.status, 503);
    assert.equal((res.body as { error: string }).error, 'unavailable');
    assert.equal(rating.received.length, 0);
  });
});
