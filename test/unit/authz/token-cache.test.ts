import assert from 'node:assert/strict';
import { TokenCache } from '../../../src/authz/jwt/token-cache.js';

const claims = (sub: string) => ({ sub });

describe('TokenCache', () => {
  it('serves an entry until its exp and never at or after it', () => {
    const cache = new TokenCache(10);
    cache.set('k', claims('alice'), 2000, 1000);
    assert.deepEqual(cache.get('k', 1999), { sub: 'alice' });
    assert.equal(cache.get('k', 2000), undefined);
    assert.equal(cache.size, 0, 'a dead entry is dropped on the hit that finds it');
  });

  it('does not keep a token that is already expired', () => {
    const cache = new TokenCache(10);
    cache.set('k', claims('alice'), 1000, 1000);
    assert.equal(cache.size, 0);
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new TokenCache(2);
    cache.set('a', claims('a'), 10_000, 0);
    cache.set('b', claims('b'), 10_000, 0);
    assert.ok(cache.get('a', 1)); // a is now more recent than b
    cache.set('c', claims('c'), 10_000, 0);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b', 1), undefined);
    assert.ok(cache.get('a', 1));
    assert.ok(cache.get('c', 1));
  });

  it('keeps nothing with a size of 0', () => {
    const cache = new TokenCache(0);
    cache.set('a', claims('a'), 10_000, 0);
    assert.equal(cache.get('a', 1), undefined);
    assert.equal(cache.size, 0);
  });

  it('replaces an entry set twice without growing', () => {
    const cache = new TokenCache(2);
    cache.set('a', claims('a'), 10_000, 0);
    cache.set('a', claims('a2'), 20_000, 0);
    assert.equal(cache.size, 1);
    assert.deepEqual(cache.get('a', 15_000), { sub: 'a2' });
  });
});
