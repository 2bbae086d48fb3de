import { Denial } from '../reasons.js';

/**
 * The bucket store could not decide (Redis down, timed out, or replied with something unexpected).
 * The failover wrapper turns it into the configured failure mode; in `closed` mode it reaches the
 * check's error exit as `unavailable`. The library error is kept in `cause` for the log only.
 */
export class BucketStoreUnavailableError extends Denial {
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('unavailable', { ...options, details: { store } });
    this.name = 'BucketStoreUnavailableError';
  }
}

/**
 * The bucket specs the policy produced are unusable (a non-positive capacity, a cost above the
 * capacity, a duplicate bucket...). That is a policy bug, not a store failure, so no failure mode
 * applies: it reaches the check's error exit as `policy_error`.
 */
export class BucketSpecError extends Denial {
  constructor(message: string) {
    super('policy_error', { details: { problem: message } });
    this.name = 'BucketSpecError';
  }
}
