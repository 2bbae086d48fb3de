/**
 * The behaviour of the rating API over real mTLS, run against each store by its own test file: the
 * endpoints, the aggregates, concurrency, the caller's identity and access rules, and every kind of
 * bad input with proof that nothing was stored.
 */
import { suiteContext, type ApiSuiteHarness } from './api-suite-context.js';
import { ratingIdentityAndAccess } from './api-access.js';
import { ratingBadInputAndRouting } from './api-bad-input.js';
import { ratingWritesAndReads } from './api-writes.js';

export type { ApiSuiteHarness } from './api-suite-context.js';

/** Registers the shared API tests for one store. */
export function behavesLikeTheRatingApi(harness: () => ApiSuiteHarness): void {
  const ctx = suiteContext(harness);
  ratingWritesAndReads(ctx);
  ratingBadInputAndRouting(ctx);
  ratingIdentityAndAccess(ctx);
}
