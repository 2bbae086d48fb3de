import type { BucketState, ChargeResult } from './buckets/bucket-store.js';

/**
 * The bucket a client should hear about: the one it will run out of first (fewest whole tokens
 * left; the first such in the policy's order on a tie). Undefined when nothing was charged.
 */
export function mostConstraining(buckets: readonly BucketState[]): BucketState | undefined {
  let best: BucketState | undefined;
  for (const b of buckets) if (best === undefined || b.remaining < best.remaining) best = b;
  return best;
}

/**
 * The `x-ratelimit-*` headers for a charge, written into `headers`: limit, remaining and reset
 * (seconds until full) of the most constraining bucket, and on a deny the bucket that refused
 * (it is the one the client waits on) plus `retry-after` in whole seconds.
 */
export function setRateLimitHeaders(headers: Record<string, string>, result: ChargeResult): void {
  const denied = result.allowed ? undefined : result.buckets.find((b) => b.name === result.deniedBy);
  const b = denied ?? mostConstraining(result.buckets);
  if (b !== undefined) {
    headers['x-ratelimit-limit'] = String(b.capacity);
    headers['x-ratelimit-remaining'] = String(b.remaining);
    headers['x-ratelimit-reset'] = String(b.resetS);
  }
  if (!result.allowed) headers['retry-after'] = String(Math.max(1, result.retryAfterS ?? 1));
}

/** Remaining whole tokens by bucket name, for the decision log. */
export function remainingByBucket(buckets: readonly BucketState[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of buckets) out[b.name] = b.remaining;
  return out;
}
