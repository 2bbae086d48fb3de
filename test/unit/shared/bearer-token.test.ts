import assert from 'node:assert/strict';
import { bearerToken, offeredSubprotocols } from '../../../src/shared/http/bearer-token.js';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln';

describe('bearerToken: where a request\'s token is', () => {
  it('reads Authorization: Bearer, in any case of the scheme', () => {
    assert.deepEqual(bearerToken({ authorization: `Bearer ${JWT}` }), { kind: 'token', token: JWT, from: 'authorization' });
    assert.deepEqual(bearerToken({ authorization: `bearer   ${JWT}` }), { kind: 'token', token: JWT, from: 'authorization' });
  });

  it('reads a bearer.<token> subprotocol offered next to zt-ratings.v1, as a browser sends it', () => {
    assert.deepEqual(bearerToken({ 'sec-websocket-protocol': `zt-ratings.v1, bearer.${JWT}` }), { kind: 'token', token: JWT, from: 'subprotocol' });
    assert.deepEqual(bearerToken({ 'sec-websocket-protocol': `bearer.${JWT},zt-ratings.v1` }), { kind: 'token', token: JWT, from: 'subprotocol' });
  });

  it('finds none without either, and for another scheme', () => {
    assert.deepEqual(bearerToken({}), { kind: 'none' });
    assert.deepEqual(bearerToken({ authorization: 'Basic YWxpY2U6c2VjcmV0' }), { kind: 'none' });
    assert.deepEqual(bearerToken({ 'sec-websocket-protocol': 'zt-ratings.v1' }), { kind: 'none' });
  });

  it('refuses a token sent both ways, and two bearer subprotocols', () => {
    assert.equal(bearerToken({ authorization: `Bearer ${JWT}`, 'sec-websocket-protocol': `zt-ratings.v1, bearer.${JWT}` }).kind, 'invalid');
    assert.equal(bearerToken({ 'sec-websocket-protocol': `bearer.${JWT}, bearer.${JWT}` }).kind, 'invalid');
  });

  it('refuses a credential that is not a b64token, and an empty one', () => {
    assert.equal(bearerToken({ authorization: 'Bearer a b' }).kind, 'invalid');
    assert.equal(bearerToken({ authorization: 'Bearer' }).kind, 'invalid');
    assert.equal(bearerToken({ 'sec-websocket-protocol': 'bearer.' }).kind, 'invalid');
  });

  it('never looks at anything but those two headers', () => {
    assert.deepEqual(bearerToken({ cookie: `token=${JWT}`, 'x-access-token': JWT }), { kind: 'none' });
  });
});

describe('offeredSubprotocols', () => {
  it('splits the entries as Node (", ") and Envoy (",") join repeated headers', () => {
    assert.deepEqual(offeredSubprotocols('a, b'), ['a', 'b']);
    assert.deepEqual(offeredSubprotocols('a,b'), ['a', 'b']);
    assert.deepEqual(offeredSubprotocols(['a', 'b , c']), ['a', 'b', 'c']);
    assert.deepEqual(offeredSubprotocols(' , '), []);
    assert.deepEqual(offeredSubprotocols(undefined), []);
  });
});
