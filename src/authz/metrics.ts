import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FailoverHooks } from './buckets/failover-store.js';

/**
 * The policy service's Prometheus metrics, in a registry of their own so that two apps in one
 * process (tests, benches) never share or clash on counters. The reason label is one of the reason
 * codes of reasons.ts (DESIGN.md's, and `not_found`), so its cardinality is fixed.
 */
export interface AuthzMetrics {
  readonly registry: Registry;
  /** `authz_decisions_total{reason,decision}`. */
  readonly decisions: Counter<'reason' | 'decision'>;
  /** `authz_decision_duration_seconds`: from the check's first byte handled to its answer. */
  readonly duration: Histogram;
  /** `authz_bucket_store_errors_total`: requests the shared bucket store (Redis) could not decide. */
  readonly bucketStoreErrors: Counter;
  /** Hooks for the failover bucket store that feed the metrics above. */
  readonly bucketHooks: FailoverHooks;
}

// A check costs tens of microseconds when the token is cached and Redis is local; the p99 budget is
// 2 ms. Buckets below 1 ms show where the time goes, the upper ones the edge's 250 ms timeout.
const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Creates the metrics in a fresh registry. */
export function createMetrics(): AuthzMetrics {
  const registry = new Registry();
  const decisions = new Counter({
    name: 'authz_decisions_total',
    help: 'Check decisions by reason code and outcome.',
    labelNames: ['reason', 'decision'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'authz_decision_duration_seconds',
    help: 'Time to decide one check, in seconds.',
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const bucketStoreErrors = new Counter({
    name: 'authz_bucket_store_errors_total',
    help: 'Checks the shared bucket store could not decide (the failure mode decided instead).',
    registers: [registry],
  });
  const degraded = new Gauge({
    name: 'authz_bucket_store_degraded',
    help: '1 while the shared bucket store is unavailable and the failure mode applies.',
    registers: [registry],
  });
  return {
    registry,
    decisions,
    duration,
    bucketStoreErrors,
    bucketHooks: {
      // Called once per request not decided by Redis, whatever the mode (closed mode included).
      onFailureMode: () => bucketStoreErrors.inc(),
      onStateChange: (state) => degraded.set(state === 'degraded' ? 1 : 0),
    },
  };
}
