/**
 * The seam between the policy service and its token buckets. The policy names the buckets a request
 * must pay into; a `BucketStore` charges them all or none. Implementations: the in-process store
 * (embedded default and Redis fallback), the Redis store (one Lua script per request) and the
 * failover wrapper that applies `RATE_LIMIT_FAILURE_MODE`.
 */

/** One bucket a request must pay into, as the policy's `limits` entry names it. */
export interface BucketSpec {
  /** The bucket's kind, e.g. `user`, `global`, `tenant`; must not contain `:`. */
  readonly name: string;
  /** Which bucket of that kind, e.g. the user or tenant id. Stored as `<name>:<key>`. */
  readonly key: string;
  /** Maximum tokens; a bucket starts full. */
  readonly capacity: number;
  /** Tokens added per second, continuously. Must be > 0. */
  readonly refillPerS: number;
  /** Tokens this request takes; `0 <= cost <= capacity`. */
  readonly cost: number;
}

/** A bucket's state as reported to the caller (for `x-ratelimit-*` and the decision log). */
export interface BucketState {
  readonly name: string;
  readonly key: string;
  readonly capacity: number;
  /** Whole tokens left (floor of the fractional count). */
  readonly remaining: number;
  /** Whole seconds (ceil) until the bucket is full again; 0 when it is full. */
  readonly resetS: number;
}

/** Who decided a charge: the shared store, the in-process store, or the failure mode. */
export type ChargeSource = 'redis' | 'memory' | 'local-fallback' | 'open';

/** The outcome of charging one request's buckets. */
export interface ChargeResult {
  readonly allowed: boolean;
  /** In spec order: the state after the charge, or the unchanged (refilled) state when denied. */
  readonly buckets: readonly BucketState[];
  /** When denied: whole seconds (ceil, >= 1) until every denying bucket holds enough tokens. */
  readonly retryAfterS?: number;
  /** When denied: the name of the first bucket, in spec order, that lacked tokens. */
  readonly deniedBy?: string;
  readonly source: ChargeSource;
}

/**
 * A token bucket store. `charge` is all or nothing: a request that one bucket denies takes tokens
 * from none. It resolves with a decision or rejects with `BucketSpecError` (the specs are invalid: a
 * policy bug) or `BucketStoreUnavailableError` (the store cannot decide); nothing else.
 */
export interface BucketStore {
  /** A short label for logs and metrics, e.g. `memory`, `redis`, `redis+local`. */
  readonly name: string;
  charge(specs: readonly BucketSpec[]): Promise<ChargeResult>;
  /** Whether the store can decide right now (for `/readyz`). */
  isReady(): boolean;
  /** Releases timers and connections. Idempotent. */
  close(): Promise<void>;
}
