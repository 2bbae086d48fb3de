import assert from 'node:assert/strict';
import { clientTarget, parseQuery, pathSegments } from '../../../src/authz/check-url.js';

describe('check URLs', () => {
  it('splits /check + path + query into the client path and raw query', () => {
    assert.deepEqual(clientTarget('/check/v1/tenants/acme/items/i1/ratings?a=1&b=2'), { path: '/v1/tenants/acme/items/i1/ratings', rawQuery: 'a=1&b=2' });
    assert.deepEqual(clientTarget('/check/v1'), { path: '/v1', rawQuery: '' });
  });

  it('maps the bare prefix to the root path', () => {
    assert.deepEqual(clientTarget('/check'), { path: '/', rawQuery: '' });
    assert.deepEqual(clientTarget('/check?x=1'), { path: '/', rawQuery: 'x=1' });
    assert.deepEqual(clientTarget('/check/'), { path: '/', rawQuery: '' });
  });

  it('refuses what is not under the prefix', () => {
    assert.equal(clientTarget('/checkout'), undefined);
    assert.equal(clientTarget('/v1/check'), undefined);
    assert.equal(clientTarget('/'), undefined);
    assert.equal(clientTarget('//check/x'), undefined);
  });

  it('decodes nothing in the path', () => {
    assert.deepEqual(clientTarget('/check/v1/tenants/ac%6De/../x'), { path: '/v1/tenants/ac%6De/../x', rawQuery: '' });
  });

  it('drops empty segments as the policy does', () => {
    assert.deepEqual(pathSegments('/'), []);
    assert.deepEqual(pathSegments('/v1//tenants/'), ['v1', 'tenants']);
    assert.deepEqual(pathSegments('/a/./b'), ['a', '.', 'b']);
    for (const path of ['/x', '/x/y/z', '//a///b//', '/a/b/']) {
      assert.deepEqual(
        pathSegments(path),
        path.split('/').filter((s) => s !== ''),
      );
    }
  });

  it('keeps repeated parameters as arrays and __proto__ as a plain name', () => {
    const q = parseQuery('a=1&a=2&a=3&b=x&__proto__=p&%ff=%fe');
    assert.deepEqual(Object.entries(q), [
      ['a', ['1', '2', '3']],
      ['b', 'x'],
      ['__proto__', 'p'],
      ['\ufffd', '\ufffd'],
    ]);
    assert.equal(Object.getPrototypeOf(q), null);
    assert.deepEqual(Object.entries(parseQuery('')), []);
  });
});
