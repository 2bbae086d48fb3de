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
  /** The item's sequence number after this write: the `seq` of the change it published. */
  readonly seq: number;
}

export interface RemoveOutcome {
  /** False when the user had no rating of the item (nothing changed). */
  readonly deleted: boolean;
  readonly aggregate: Aggregate;
  /** The item's sequence number after the call (unchanged when nothing was deleted). */
  readonly seq: number;
}

/**
 * An item's aggregate and sequence number, read together: a stream's first message. Every change
 * of an item increments its sequence number by one, for the item's whole life (it survives the
 * removal of the last rating), so a subscriber orders changes, drops those its snapshot already
 * holds and notices a gap.
 */
export interface ItemSnapshot {
  readonly aggregate: Aggregate;
  readonly seq: number;
}

/** What changed an item: a new rating, a replaced one, or a removed one. */
export type ChangeKind = 'created' | 'replaced' | 'deleted';

/** One change of an item, as a store publishes it: in `seq` order, one per write that changed something. */
export interface RatingChange {
  readonly seq: number;
  readonly change: ChangeKind;
  /** The item's aggregate right after the change. */
  readonly aggregate: Aggregate;
}

/**
 * Where ratings live: memory in embedded mode, Redis when REDIS_URL is set. Every write changes
 * the user's rating and the item's aggregate together or not at all, and concurrent writers (in one
 * process or many) never lose an update. Methods reject with an AppError `unavailable` when the
 * backend cannot answer; any other rejection is a bug. There is no read of one user's rating: the
 * API answers aggregates only. Each write that changes an item publishes a {@link RatingChange} to
 * the item's feed (rating-feed.ts) as part of the same atomic step, so changes reach subscribers
 * in `seq` order whichever replica made them.
 */
export interface RatingStore {
  readonly name: 'memory' | 'redis';
  /** Creates or replaces `user`'s rating of the item. */
  put(key: ItemKey, user: string, rating: StoredRating): Promise<PutOutcome>;
  /** Deletes `user`'s rating of the item, if there is one. */
  remove(key: ItemKey, user: string): Promise<RemoveOutcome>;
  aggregate(key: ItemKey): Promise<Aggregate>;
  /** The aggregate and sequence number together, as of one instant. */
  snapshot(key: ItemKey): Promise<ItemSnapshot>;
  /** Whether the store can take requests now (the readiness check). */
  isReady(): boolean;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
