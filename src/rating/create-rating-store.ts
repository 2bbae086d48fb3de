import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { MemoryRatingStore } from './rating-store-memory.js';
import { RedisRatingStore } from './rating-store-redis.js';
import type { RatingStore } from './rating-store.js';

/**
 * The store REDIS_URL asks for: Redis when set, memory otherwise. Redis connection errors are
 * logged at debug: while Redis is away the readiness check says so and writes answer 503, which is
 * the signal operators watch, not one log line per reconnect attempt.
 */
export function createRatingStore(redisUrl: string | undefined, logger?: Logger): RatingStore {
  if (redisUrl === undefined) return new MemoryRatingStore();
  return new RedisRatingStore({
    url: redisUrl,
    onError: (err) => logger?.debug({ err: errorMessage(err) }, 'redis connection error'),
  });
}
