import { BucketSpecError } from './bucket-errors.js';
import type { BucketSpec } from './bucket-store.js';

/**
 * Slack for float drift in refill arithmetic (tokens are fractional). Without it a client that waits
 * exactly the announced Retry-After could find 0.9999999999 tokens and be denied again.
 */
export const TOKEN_EPSILON = 1e-9;

/**
 * Longest time to full a bucket may have. Beyond it the key expiry (PEXPIRE) and the wait
 * arithmetic leave the range Redis accepts, and no real limit is meant that way.
 */
export const MAX_FILL_S = 365 * 24 * 3600;

/**
 * Rejects specs the stores cannot charge meaningfully. Cheap enough for the hot path: a handful of
 * comparisons per bucket and a quadratic duplicate check, which beats a Set for the 1-4 buckets a
 * request carries.
 */
export function checkSpecs(specs: readonly BucketSpec[]): void {
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i]!;
    if (typeof s.name !== 'string' || s.name === '' || s.name.includes(':')) {
      throw new BucketSpecError(`bucket ${i}: name must be a non-empty string without ':'`);
    }
    if (typeof s.key !== 'string' || s.key === '') {
      throw new BucketSpecError(`bucket ${s.name}: key must be a non-empty string`);
    }
    if (!(Number.isFinite(s.capacity) && s.capacity > 0)) {
      throw new BucketSpecError(`bucket ${s.name}: capacity must be a positive number`);
    }
    if (!(Number.isFinite(s.refillPerS) && s.refillPerS > 0)) {
      throw new BucketSpecError(`bucket ${s.name}: refillPerS must be a positive number`);
    }
    if (s.capacity / s.refillPerS > MAX_FILL_S) {
      throw new BucketSpecError(`bucket ${s.name}: takes longer than a year to refill`);
    }
    if (!(Number.isFinite(s.cost) && s.cost >= 0 && s.cost <= s.capacity)) {
      throw new BucketSpecError(`bucket ${s.name}: cost must be between 0 and the capacity`);
    }
    for (let j = 0; j < i; j++) {
      const o = specs[j]!;
      if (o.name === s.name && o.key === s.key) {
        throw new BucketSpecError(`bucket ${s.name}:${s.key} appears twice in one request`);
      }
    }
  }
}

/**
 * The storage identity of a bucket. Names carry no ':' (checkSpecs), so `<name>:<key>` is
 * unambiguous, and two kinds of bucket never share state even when their keys collide.
 */
export function bucketId(spec: BucketSpec): string {
  return `${spec.name}:${spec.key}`;
}

/** Whole tokens for reporting: floor, forgiving float drift just below an integer. */
export function wholeTokens(tokens: number): number {
  return Math.floor(tokens + TOKEN_EPSILON);
}

/**
 * Milliseconds to whole seconds, rounded up, as Retry-After and x-ratelimit-reset want: 0 only for
 * "now", never 0 for a wait that is merely short.
 */
export function ceilSeconds(ms: number): number {
  if (ms <= 1e-6) return 0;
  return Math.max(1, Math.ceil(ms / 1000 - TOKEN_EPSILON));
}
