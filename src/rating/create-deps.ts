import { errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { ServiceDeps } from '../shared/service.js';
import type { RedisServer } from '../shared/redis-client.js';
import { WorkloadTls } from '../shared/tls/workload-tls.js';
import type { RatingConfig } from './config.js';
import { MemoryRatingStore } from './rating-store-memory.js';
import { RedisRatingStore } from './rating-store-redis.js';
import type { RatingStore } from './rating-store.js';

/** The live resources of the rating API. */
export interface RatingDeps extends ServiceDeps {
  /** The workload's certificate, key and trust bundle, watched for rotation. */
  readonly tls: WorkloadTls;
  readonly store: RatingStore;
}

/**
 * Opens what the rating API runs on. The certificate is read first, so that a missing or broken one
 * stops the start (a ConfigError naming the file) before a Redis connection is opened. The store is
 * Redis when REDIS_URL is set, memory otherwise. `overrides` replace the logger or the store, for
 * tests; `close()` releases both the watch and the store, an overriding one included.
 */
export async function createDeps(config: RatingConfig, overrides: { readonly logger?: Logger; readonly store?: RatingStore } = {}): Promise<RatingDeps> {
  const logger = overrides.logger ?? createLogger('rating', { level: config.logLevel });
  const tls = (await WorkloadTls.load(config.pkiDir, config.workload)).watch();
  const store = overrides.store ?? createStore(config.redis, tls, logger);
  let closing: Promise<void> | undefined;
  return {
    logger,
    tls,
    store,
    close() {
      closing ??= (async () => {
        tls.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * Redis connection errors are logged at debug: while Redis is away the readiness check says so and
 * requests answer 503, which is the signal operators watch, not one log line per reconnect attempt.
 */
function createStore(redis: RedisServer | undefined, identity: WorkloadTls, logger: Logger): RatingStore {
  if (redis === undefined) return new MemoryRatingStore();
  return new RedisRatingStore({ server: redis, identity, onError: (err) => logger.debug({ err: errorMessage(err) }, 'redis connection error') });
}
