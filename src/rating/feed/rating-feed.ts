import type { ItemKey, RatingChange } from '../rating-store.js';

/** Hears one item's changes. */
export type ChangeListener = (change: RatingChange) => void;

/** A live subscription; `unsubscribe` is idempotent. */
export interface Subscription {
  unsubscribe(): void;
}

/**
 * Where subscribers hear the changes the store publishes (rating-store.ts): in-process in embedded
 * mode, Redis pub/sub when REDIS_URL is set, so that a subscriber on any replica hears a write made
 * on any other. Changes of an item arrive in `seq` order. A feed that may have missed changes (a
 * lost Redis connection) says so through `onGap`, and subscribers re-read a snapshot.
 */
export interface RatingFeed {
  readonly name: 'memory' | 'redis';
  /** Delivers the item's changes to `listener` from the moment it resolves; rejects with 503 `unavailable` when it cannot. */
  subscribe(key: ItemKey, listener: ChangeListener): Promise<Subscription>;
  /** Registers a listener for "changes may have been missed", e.g. after a reconnect. */
  onGap(listener: () => void): void;
  /** Whether subscribing can work now, for `/readyz`. */
  isReady(): boolean;
  /** Drops every subscription and connection. Idempotent. */
  close(): Promise<void>;
}
