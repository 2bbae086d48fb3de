import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { createRedisClient, type RedisServer } from '../../shared/redis-client.js';
import type { WorkloadTls } from '../../shared/tls/workload-tls.js';
import { FailoverBucketStore, type FailoverHooks, type FailureMode } from './failover-store.js';
import type { BucketStore } from './bucket-store.js';
import { MemoryBucketStore } from './token-bucket-memory.js';
import { RedisBucketStore } from './token-bucket-redis.js';

/** What the authz deps hand over to build the bucket store. */
export interface BucketStoreConfig {
  /** REDIS_URL and Redis's identity; unset means the memory store alone (embedded mode). */
  readonly redis: RedisServer | undefined;
  /** The service's own certificate and Redis password (its ACL user), followed through rotations. */
  readonly identity: WorkloadTls;
  /** RATE_LIMIT_FAILURE_MODE. */
  readonly failureMode: FailureMode;
  /** RATE_LIMIT_REDIS_TIMEOUT_MS: how long one charge may wait for Redis. */
  readonly redisCommandTimeoutMs: number;
  /** Metrics hooks; the factory adds logging of state changes on top. */
  readonly hooks?: FailoverHooks;
  readonly logger?: Logger;
}

/**
 * The bucket store for the policy service: the memory store without REDIS_URL, otherwise Redis
 * (a client from the one Redis client factory) behind the failure mode with a memory store as its
 * local fallback. Logs transitions, not every failed request or reconnect attempt, so an outage is
 * a few lines rather than a flood.
 */
export function createBucketStore(config: BucketStoreConfig): BucketStore {
  if (config.redis === undefined) return new MemoryBucketStore();
  const log = config.logger;
  const hooks = config.hooks ?? {};
  const client = createRedisClient({
    server: config.redis,
    identity: config.identity,
    connectionName: 'zt-authz-buckets',
    commandTimeoutMs: config.redisCommandTimeoutMs,
    onError: (err) => log?.debug({ err: errorMessage(err) }, 'redis connection error'),
  });
  return new FailoverBucketStore(new RedisBucketStore(client), new MemoryBucketStore(), {
    mode: config.failureMode,
    hooks: {
      ...hooks,
      onStateChange: (state, cause) => {
        if (state === 'degraded') {
          log?.warn({ mode: config.failureMode, cause: cause ? errorMessage(cause.cause) : 'not connected' }, 'redis unavailable: rate limiting follows the failure mode');
        } else {
          log?.info('redis available again: rate limiting uses redis');
        }
        hooks.onStateChange?.(state, cause);
      },
    },
  });
}
