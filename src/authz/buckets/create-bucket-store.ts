import { ConfigError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { FailoverBucketStore, FAILURE_MODES, type FailoverHooks, type FailureMode } from './failover-store.js';
import type { BucketStore } from './bucket-store.js';
import { MemoryBucketStore } from './token-bucket-memory.js';
import { RedisBucketStore } from './token-bucket-redis.js';

/** What the authz config module hands over to build the bucket store. */
export interface BucketStoreConfig {
  /** REDIS_URL; unset means the memory store alone (embedded mode). */
  readonly redisUrl?: string | undefined;
  /** RATE_LIMIT_FAILURE_MODE, already parsed with `parseFailureMode`. */
  readonly failureMode: FailureMode;
  /** Redis command timeout in ms (default 50). */
  readonly redisCommandTimeoutMs?: number;
  /** Metrics hooks; the factory adds logging of state changes on top. */
  readonly hooks?: FailoverHooks;
  readonly logger?: Logger;
}

/** Parses RATE_LIMIT_FAILURE_MODE; a bad value is a ConfigError that names the setting. */
export function parseFailureMode(value: string | undefined): FailureMode {
  const v = value ?? 'local';
  const mode = FAILURE_MODES.find((m) => m === v);
  if (mode === undefined) {
    throw new ConfigError('invalid_setting', `RATE_LIMIT_FAILURE_MODE must be one of ${FAILURE_MODES.join(', ')} (got "${v}")`);
  }
  return mode;
}

/**
 * The bucket store for the policy service: the memory store without REDIS_URL, otherwise Redis
 * behind the failure mode with a memory store as its local fallback. Logs transitions, not every
 * failed request or reconnect attempt, so an outage is a few lines rather than a flood.
 */
export function createBucketStore(config: BucketStoreConfig): BucketStore {
  if (config.redisUrl === undefined) return new MemoryBucketStore();
  const log = config.logger;
  const hooks = config.hooks ?? {};
  const redis = new RedisBucketStore({
    url: config.redisUrl,
    ...(config.redisCommandTimeoutMs === undefined ? {} : { commandTimeoutMs: config.redisCommandTimeoutMs }),
    onError: (err) => log?.debug({ err: errorMessage(err) }, 'redis connection error'),
  });
  return new FailoverBucketStore(redis, new MemoryBucketStore(), {
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
