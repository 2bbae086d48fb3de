import { performance } from 'node:perf_hooks';
import { BucketSpecError, BucketStoreUnavailableError } from './bucket-errors.js';
import { checkSpecs } from './bucket-spec.js';
import type { BucketSpec, BucketState, BucketStore, ChargeResult } from './bucket-store.js';

/** What `RATE_LIMIT_FAILURE_MODE` may say. */
export const FAILURE_MODES = ['local', 'open', 'closed'] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

/**
 * Hooks the service turns into metrics and logs. Kept as plain callbacks so that this module does
 * not depend on prom-client or on a logger. They run on the request path: keep them cheap, and do
 * not throw from them.
 */
export interface FailoverHooks {
  /** A call to the primary failed; `err.cause` holds the library error. */
  readonly onPrimaryError?: (err: BucketStoreUnavailableError) => void;
  /** A request was decided by the failure mode instead of the primary. */
  readonly onFailureMode?: (mode: FailureMode) => void;
  /** The wrapper stopped (`degraded`) or resumed (`primary`) using the primary. */
  readonly onStateChange?: (state: 'primary' | 'degraded', cause?: BucketStoreUnavailableError) => void;
}

/** Options of the failover wrapper. */
export interface FailoverStoreOptions {
  readonly mode: FailureMode;
  /**
   * After a failed call on a connection that still looks up (a hung Redis that times out), how long
   * to skip the primary before one request probes it again, so that a hang costs one timeout per
   * interval instead of one per request. A reconnect ends the wait at once. Default 1,000 ms.
   */
  readonly probeIntervalMs?: number;
  /** Monotonic clock in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
  readonly hooks?: FailoverHooks;
}

/**
 * Puts the failure mode in front of a shared store (Redis). While the primary works it decides;
 * while it is down, disconnected or failing, `local` charges the in-process buckets (source
 * `local-fallback`), `open` allows (source `open`) and `closed` rejects with
 * BucketStoreUnavailableError (503 `unavailable`). It goes back to the primary by itself as soon as
 * the primary reports ready again; nothing restarts. A policy bug (BucketSpecError) is never masked
 * by a failure mode.
 */
export class FailoverBucketStore implements BucketStore {
  readonly name: string;
  private readonly mode: FailureMode;
  private readonly probeIntervalMs: number;
  private readonly now: () => number;
  private readonly hooks: FailoverHooks;
  private degraded = false;
  private sawNotReady = false;
  private primaryReached = false;
  private probeAt = 0;

  constructor(
    private readonly primary: BucketStore,
    private readonly local: BucketStore,
    options: FailoverStoreOptions,
  ) {
    this.mode = options.mode;
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
    this.hooks = options.hooks ?? {};
    this.name = `${primary.name}+${this.mode}`;
    this.primaryReached = primary.isReady();
  }

  async charge(specs: readonly BucketSpec[]): Promise<ChargeResult> {
    // Nothing to limit, so no store is needed and no failure mode applies, even `closed`.
    if (specs.length === 0) return this.local.charge(specs);
    if (!this.primaryUsable()) return this.decideWithout(specs, undefined);
    try {
      const result = await this.primary.charge(specs);
      this.primaryReached = true;
      if (this.degraded) this.setDegraded(false);
      return result;
    } catch (err) {
      if (err instanceof BucketSpecError) throw err;
      const failure = err instanceof BucketStoreUnavailableError ? err : new BucketStoreUnavailableError(this.primary.name, { cause: err });
      this.hooks.onPrimaryError?.(failure);
      this.probeAt = this.now() + this.probeIntervalMs;
      if (!this.degraded) this.setDegraded(true, failure);
      return this.decideWithout(specs, failure);
    }
  }

  /**
   * Ready once the primary (Redis) has been reached: a service that starts with Redis configured
   * should not report ready on fallback buckets it never meant to use. After that, the `local` and
   * `open` modes always decide, so they stay ready through an outage. In `closed` mode the store is
   * ready while the primary is connected and not inside the back-off after a failed call.
   */
  isReady(): boolean {
    if (!this.primaryReached) this.primaryReached = this.primary.isReady();
    if (this.mode !== 'closed') return this.primaryReached;
    return this.primary.isReady() && !(this.degraded && this.now() < this.probeAt);
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.local.close()]);
  }

  private primaryUsable(): boolean {
    if (!this.primary.isReady()) {
      this.sawNotReady = true;
      if (!this.degraded) this.setDegraded(true);
      return false;
    }
    if (this.sawNotReady) {
      // Reconnected: whatever made us back off belonged to the old connection.
      this.sawNotReady = false;
      this.probeAt = 0;
    }
    if (!this.degraded) return true;
    const now = this.now();
    if (now < this.probeAt) return false;
    // One probe per interval; concurrent requests keep using the failure mode meanwhile.
    this.probeAt = now + this.probeIntervalMs;
    return true;
  }

  private setDegraded(degraded: boolean, cause?: BucketStoreUnavailableError): void {
    this.degraded = degraded;
    this.hooks.onStateChange?.(degraded ? 'degraded' : 'primary', cause);
  }

  private async decideWithout(specs: readonly BucketSpec[], cause: BucketStoreUnavailableError | undefined): Promise<ChargeResult> {
    this.hooks.onFailureMode?.(this.mode);
    switch (this.mode) {
      case 'local': {
        const result = await this.local.charge(specs);
        return { ...result, source: 'local-fallback' };
      }
      case 'open':
        checkSpecs(specs);
        return { allowed: true, buckets: specs.map(fullState), source: 'open' };
      case 'closed':
        checkSpecs(specs);
        throw cause ?? new BucketStoreUnavailableError(this.primary.name, { cause: new Error(`${this.primary.name} is not ready`) });
    }
  }
}

function fullState(s: BucketSpec): BucketState {
  return { name: s.name, key: s.key, capacity: s.capacity, remaining: s.capacity, resetS: 0 };
}
