import assert from 'node:assert/strict';
import type { BucketState } from '../../../src/authz/buckets/bucket-store.js';
import { mostConstraining, remainingByBucket, setRateLimitHeaders } from '../../../src/authz/rate-limit-headers.js';

const bucket = (name: string, capacity: number, remaining: number, resetS: number): BucketState => ({ name, key: name, capacity, remaining, resetS });

describe('rate limit headers', () => {
  const buckets = [bucket('global', 200, 150, 1), bucket('tenant', 60, 3, 57), bucket('user', 5, 3, 1)];

  it('reports the bucket with the fewest tokens left, the first one on a tie', () => {
    assert.equal(mostConstraining(buckets)?.name, 'tenant');
    assert.equal(mostConstraining([]), undefined);
  });

  it('sets limit, remaining and reset of that bucket on an allow, and no retry-after', () => {
    const headers: Record<string, string> = {};
    setRateLimitHeaders(headers, { allowed: true, buckets, source: 'memory' });
    assert.deepEqual(headers, { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '57' });
  });

  it('reports the denying bucket and retry-after on a deny', () => {
    const headers: Record<string, string> = {};
    setRateLimitHeaders(headers, { allowed: false, buckets: [bucket('global', 200, 0, 1), bucket('user', 5, 0, 1)], retryAfterS: 2, deniedBy: 'user', source: 'redis' });
    assert.deepEqual(headers, { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1', 'retry-after': '2' });
  });

  it('sets nothing when nothing was charged', () => {
    const headers: Record<string, string> = {};
    setRateLimitHeaders(headers, { allowed: true, buckets: [], source: 'memory' });
    assert.deepEqual(headers, {});
  });

  it('lists remaining tokens by bucket name for the decision log', () => {
    assert.deepEqual(remainingByBucket(buckets), { global: 150, tenant: 3, user: 3 });
  });
});
