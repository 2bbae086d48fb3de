import type { Aggregate, Score } from './aggregate.js';

/** Which item a rating belongs to. Both parts match ID_PATTERN, so neither holds a `:`. */
export interface ItemKey {
  readonly tenant: string;
  readonly item: string;
}

/** One user's rating of one item. */
export interface StoredRating {
  readonly score: Score;
  readonly comment?: string;
}

export interface PutOutcome {
  /** True when the user had no rating of the item before; false when one was replaced. */
  readonly created: boolean;
  /** The replaced rating's score, when there was one. */
  readonly previousScore?: Score;
  /** The item's aggregate right after this write, including it. */
  readonly aggregate: Aggregate;
}

export interface RemoveOutcome {
  /** False when the user had no rating of the item (nothing changed). */
  readonly deleted: boolean;
  readonly aggregate: Aggregate;
}

/**
 * Where ratings live: memory in embedded mode, Redis when REDIS_URL is set. Every write changes
 * the user's rating and the item's aggregate together or not at all, and concurrent writers (in one
 * process or many) never lose an update. Methods reject with an AppError `unavailable` when the
 * backend cannot answer; any other rejection is a bug. There is no read of one user's rating: the
 * API answers aggregates only.
 */
export interface RatingStore {
  readonly name: 'memory' | 'redis';
  /** Creates or replaces `user`'s rating of the item. */
  put(key: ItemKey, user: string, rating: StoredRating): Promise<PutOutcome>;
  /** Deletes `user`'s rating of the item, if there is one. */
  remove(key: ItemKey, user: string): Promise<RemoveOutcome>;
  aggregate(key: ItemKey): Promise<Aggregate>;
  /** Whether the store can take requests now (the readiness check). */
  isReady(): boolean;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
