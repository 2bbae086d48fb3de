import { errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { ServiceDeps } from '../shared/service.js';
import type { RedisServer } from '../shared/redis-client.js';
import { WorkloadTls } from '../shared/tls/workload-tls.js';
import type { RatingConfig } from './config.js';
import { MemoryRatingFeed } from './feed/rating-feed-memory.js';
import { RedisRatingFeed } from './feed/rating-feed-redis.js';
import type { RatingFeed } from './feed/rating-feed.js';
import { MemoryRatingStore } from './rating-store-memory.js';
import { RedisRatingStore } from './rating-store-redis.js';
import type { RatingStore } from './rating-store.js';

/** The live resources of the rating API. */
export interface RatingDeps extends ServiceDeps {
  /** The workload's certificate, key and trust bundle, watched for rotation. */
  readonly tls: WorkloadTls;
  readonly store: RatingStore;
  /** Where the streams hear the store's changes. */
  readonly feed: RatingFeed;
}

/** What a test may put in place of the real thing. */
export interface RatingOverrides {
  readonly logger?: Logger;
  /** Replaces the store; with `feed` unset, give it the feed's publish (see MemoryRatingStore). */
  readonly store?: RatingStore;
  readonly feed?: RatingFeed;
}

/**
 * Opens what the rating API runs on. The certificate is read first, so that a missing or broken one
 * stops the start (a ConfigError naming the file) before a Redis connection is opened. With
 * REDIS_URL set, the store is Redis and the feed Redis pub/sub (a second connection: one in
 * subscriber mode can do nothing else); otherwise both live in memory, the store publishing to the
 * feed. `overrides` replace the logger, the store or the feed, for tests; `close()` releases the
 * watch, the store and the feed, overriding ones included.
 */
export async function createDeps(config: RatingConfig, overrides: RatingOverrides = {}): Promise<RatingDeps> {
  const logger = overrides.logger ?? createLogger('rating', { level: config.logLevel });
  const tls = (await WorkloadTls.load(config.pkiDir, config.workload)).watch();
  const { store, feed } = createStoreAndFeed(config.redis, tls, logger, overrides);
  let closing: Promise<void> | undefined;
  return {
    logger,
    tls,
    store,
    feed,
    close() {
      closing ??= (async () => {
        tls.close();
        await Promise.all([store.close(), feed.close()]);
      })();
      return closing;
    },
  };
}

/**
 * Redis connection errors are logged at debug: while Redis is away the readiness check says so and
 * requests answer 503, which is the signal operators watch, not one log line per reconnect attempt.
 */
function createStoreAndFeed(redis: RedisServer | undefined, identity: WorkloadTls, logger: Logger, overrides: RatingOverrides): { store: RatingStore; feed: RatingFeed } {
  const onError = (err: Error): void => logger.debug({ err: errorMessage(err) }, 'redis connection error');
  if (redis === undefined) {
    const memoryFeed = new MemoryRatingFeed((err) => logger.error({ err: errorMessage(err) }, 'stream_listener_failed'));
    const feed = overrides.feed ?? memoryFeed;
    return { feed, store: overrides.store ?? new MemoryRatingStore((key, change) => memoryFeed.publish(key, change)) };
  }
  // Both connections sign in as the rating API's own ACL user (rating-api), with its certificate.
  return {
    store: overrides.store ?? new RedisRatingStore({ server: redis, identity, onError }),
    feed:
      overrides.feed ??
      new RedisRatingFeed({ server: redis, identity, onError, onBadMessage: (channel, err) => logger.warn({ channel, err: errorMessage(err) }, 'rating_event_unreadable') }),
  };
}
