import { AppError } from '../../shared/errors.js';

/**
 * The bucket store could not decide (Redis down, timed out, or replied with something unexpected).
 * The failover wrapper turns it into the configured failure mode; in `closed` mode it reaches the
 * error middleware as 503 `unavailable`. The library error is kept in `cause` for the log only.
 */
export class BucketStoreUnavailableError extends AppError {
  constructor(store: string, options: { cause?: unknown } = {}) {
    super('unavailable', 503, 'rate limiting is unavailable', { ...options, details: { store } });
    this.name = 'BucketStoreUnavailableError';
  }
}

/**
 * The bucket specs the policy produced are unusable (a non-positive capacity, a cost above the
 * capacity, a duplicate bucket...). That is a policy bug, not a store failure, so no failure mode
 * applies: it reaches the error middleware as `policy_error`.
 */
export class BucketSpecError extends AppError {
  constructor(message: string) {
    super('policy_error', 500, 'policy error', { details: { problem: message } });
    this.name = 'BucketSpecError';
  }
}
