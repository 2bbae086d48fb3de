import assert from 'node:assert/strict';
import { normalizePath } from '../../../src/edge/normalize-path.js';

describe('edge normalizePath: envoy.yaml normalize_path, merge_slashes and escaped-slash rejection', () => {
  const cases: [string, string][] = [
    ['/v1/tenants/acme/items/widget/ratings', '/v1/tenants/acme/items/widget/ratings'],
    ['/v1/tenants/globex/../acme/items', '/v1/tenants/acme/items'],
    ['/v1//tenants///acme', '/v1/tenants/acme'],
    ['/v1/./tenants/.', '/v1/tenants/'],
    ['/v1/tenants/%2e%2e/x', '/v1/x'],
    ['/v1/tenants/%2E./x', '/v1/x'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/b/..', '/a/'],
    ['/', '/'],
    ['/a/', '/a/'],
    ['/v1\\tenants\\..\\x', '/v1/x'],
  ];
  for (const [input, expected] of cases) {
    it(`rewrites ${input} to ${expected}`, () => {
      assert.deepEqual(normalizePath(input), { ok: true, pathAndQuery: expected });
    });
  }

  it('leaves the query exactly as sent, dots and slashes included', () => {
    assert.deepEqual(normalizePath('/a/../b?next=/x/../y&q=%2F'), { ok: true, pathAndQuery: '/b?next=/x/../y&q=%2F' });
  });

  it('rejects %2F and %5C in the path in either case, as path_with_escaped_slashes_action REJECT_REQUEST does', () => {
    for (const p of ['/v1/tenants/acme%2Fglobex', '/v1/tenants/acme%2f..', '/v1/%5c', '/v1/%5C']) {
      assert.deepEqual(normalizePath(p), { ok: false, details: 'path_has_escaped_slashes' });
    }
  });

  it('rejects a request target that is not an origin-form path', () => {
    assert.deepEqual(normalizePath('*'), { ok: false, details: 'path_normalization_failed' });
    assert.deepEqual(normalizePath('http://evil/v1'), { ok: false, details: 'path_normalization_failed' });
  });
});
