import assert from 'node:assert/strict';
import { STREAM_EDGE_HEADER } from '../../../src/shared/stream/stream-recheck.js';
import { ALICE, EdgeClient, givenAuthz, tokenFor, xfccFor, type CheckResponse, type RunningAuthz } from './given-authz.js';

const STREAM = '/check/v1/tenants/acme/items/i1/ratings/stream';

/**
 * What authz does for the rating stream: the handshake's token may come in Sec-WebSocket-Protocol
 * as a browser sends it, and the rating API, alone, may re-check a stream's fresh token for the
 * edge the stream came through.
 */
describe('authz check: the rating stream\'s token', () => {
  let svc: RunningAuthz;
  let edge: EdgeClient;
  let rating: EdgeClient;
  let client: EdgeClient;
  let token: string;
  let xfcc: string;

  before(async () => {
    svc = await givenAuthz();
    [edge, rating, client] = await Promise.all([EdgeClient.create(svc), EdgeClient.create(svc, 'rating-api'), EdgeClient.create(svc, 'client-alice')]);
    token = await tokenFor(svc.pki, { ...ALICE, roles: ['viewer'] });
    xfcc = xfccFor(svc.pki, 'client-alice');
  });
  after(async () => {
    for (const c of [edge, rating, client]) c.close();
    await svc.close();
  });

  function assertDeny(res: CheckResponse, status: number, reason: string): void {
    assert.equal(res.status, status, res.body);
    assert.equal(res.json().error, reason);
  }

  it('takes the token from a bearer.<token> subprotocol offered next to zt-ratings.v1', async () => {
    const res = await edge.check('GET', STREAM, { 'sec-websocket-protocol': `zt-ratings.v1, bearer.${token}`, 'x-forwarded-client-cert': xfcc });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['x-zt-subject'], 'alice');
    assert.equal(res.headers['x-zt-roles'], 'viewer');
  });

  it('refuses a token sent both ways, or two bearer subprotocols, with 401 invalid_token', async () => {
    assertDeny(await edge.check('GET', STREAM, { authorization: `Bearer ${token}`, 'sec-websocket-protocol': `zt-ratings.v1, bearer.${token}`, 'x-forwarded-client-cert': xfcc }), 401, 'invalid_token');
    assertDeny(await edge.check('GET', STREAM, { 'sec-websocket-protocol': `bearer.${token}, bearer.${token}`, 'x-forwarded-client-cert': xfcc }), 401, 'invalid_token');
  });

  it('verifies a subprotocol token like any other: a forged one is 401 invalid_token', async () => {
    assertDeny(await edge.check('GET', STREAM, { 'sec-websocket-protocol': `zt-ratings.v1, bearer.${token.slice(0, -4)}AAAA`, 'x-forwarded-client-cert': xfcc }), 401, 'invalid_token');
  });

  it('never reads a token from the query string', async () => {
    assertDeny(await edge.check('GET', `${STREAM}?access_token=${token}`, { 'x-forwarded-client-cert': xfcc }), 401, 'missing_token');
  });

  it('lets the rating API re-check a stream token for the edge it names, and decides for that edge\'s region', async () => {
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfcc };
    const ok = await rating.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: svc.pki.spiffeId('edge-us-east') });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers['x-zt-subject'], 'alice');
    assertDeny(await rating.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: svc.pki.spiffeId('edge-eu-central') }), 403, 'cross_region');
    const line = svc.decisions().at(-1);
    assert.equal(line?.edge_region, 'eu-central');
  });

  it('refuses the rating API without a valid edge, outside a stream, or for another method with 403 untrusted_peer', async () => {
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfcc };
    const edgeId = svc.pki.spiffeId('edge-us-east');
    assertDeny(await rating.check('GET', STREAM, headers), 403, 'untrusted_peer');
    assertDeny(await rating.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: svc.pki.spiffeId('client-alice') }), 403, 'untrusted_peer');
    assertDeny(await rating.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: 'spiffe://evil.local/us-east/edge/envoy' }), 403, 'untrusted_peer');
    assertDeny(await rating.check('GET', '/check/v1/tenants/acme/items/i1/ratings', { ...headers, [STREAM_EDGE_HEADER]: edgeId }), 403, 'untrusted_peer');
    assertDeny(await rating.check('POST', STREAM, { ...headers, [STREAM_EDGE_HEADER]: edgeId }), 403, 'untrusted_peer');
  });

  it('refuses any other peer that names an edge, and ignores the header from an edge', async () => {
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfcc };
    assertDeny(await client.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: svc.pki.spiffeId('edge-us-east') }), 403, 'untrusted_peer');
    const fromEdge = await edge.check('GET', STREAM, { ...headers, [STREAM_EDGE_HEADER]: svc.pki.spiffeId('edge-eu-central') });
    assert.equal(fromEdge.status, 200, 'the us-east edge decides for us-east, whatever it forwards');
  });
});
