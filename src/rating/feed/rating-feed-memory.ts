import type { ItemKey, RatingChange } from '../rating-store.js';
import type { ChangeListener, RatingFeed, Subscription } from './rating-feed.js';

/**
 * The feed of the embedded stack: the memory store calls {@link MemoryRatingFeed.publish} in the
 * same step as each write, and the change reaches every subscriber of this process synchronously,
 * in `seq` order. One listener's failure never reaches the writer or the other listeners.
 */
export class MemoryRatingFeed implements RatingFeed {
  readonly name = 'memory';
  readonly #listeners = new Map<string, Set<ChangeListener>>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  subscribe(key: ItemKey, listener: ChangeListener): Promise<Subscription> {
    const id = itemId(key);
    const set = this.#listeners.get(id) ?? new Set<ChangeListener>();
    this.#listeners.set(id, set);
    // A wrapper per subscription, so the same function subscribed twice is two subscriptions.
    const entry: ChangeListener = (change) => listener(change);
    set.add(entry);
    return Promise.resolve({
      unsubscribe: () => {
        set.delete(entry);
        if (set.size === 0 && this.#listeners.get(id) === set) this.#listeners.delete(id);
      },
    });
  }

  /** Hands a change to the item's subscribers. */
  publish(key: ItemKey, change: RatingChange): void {
    for (const listener of [...(this.#listeners.get(itemId(key)) ?? [])]) {
      try {
        listener(change);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  onGap(): void {
    // Nothing is ever lost in-process.
  }

  isReady(): boolean {
    return true;
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }
}

function itemId(key: ItemKey): string {
  return `${key.tenant}:${key.item}`;
}
