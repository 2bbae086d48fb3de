/**
 * The memory store as tests see it. The store has no read path for a single rating (the API only
 * ever answers aggregates), so a test that must know what was written under which user reads it
 * from this record instead: every put and remove is applied, in call order, to a plain map next to
 * the real MemoryRatingStore. The memory store applies its calls in that same order (each runs
 * without an await), so the record is what the store holds; the aggregates always come from the
 * real store, and the suites compare the two.
 */
import type { Aggregate } from '../../../src/rating/aggregate.js';
import { MemoryRatingStore, type ChangeSink } from '../../../src/rating/rating-store-memory.js';
import type { ItemKey, ItemSnapshot, PutOutcome, RatingStore, RemoveOutcome, StoredRating } from '../../../src/rating/rating-store.js';

export class RecordingStore implements RatingStore {
  readonly name = 'memory';
  readonly #store: MemoryRatingStore;
  readonly #items = new Map<string, { key: ItemKey; users: Map<string, StoredRating> }>();

  /** `onChange` hears every change, as the in-process feed would. */
  constructor(onChange?: ChangeSink) {
    this.#store = new MemoryRatingStore(onChange);
  }

  put(key: ItemKey, user: string, rating: StoredRating): Promise<PutOutcome> {
    const outcome = this.#store.put(key, user, rating);
    this.#users(key).set(user, { ...rating });
    return outcome;
  }

  remove(key: ItemKey, user: string): Promise<RemoveOutcome> {
    const outcome = this.#store.remove(key, user);
    this.#users(key).delete(user);
    return outcome;
  }

  aggregate(key: ItemKey): Promise<Aggregate> {
    return this.#store.aggregate(key);
  }

  snapshot(key: ItemKey): Promise<ItemSnapshot> {
    return this.#store.snapshot(key);
  }

  isReady(): boolean {
    return this.#store.isReady();
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  /** Every user's rating of an item, as written. */
  ratings(key: ItemKey): ReadonlyMap<string, StoredRating> {
    return new Map(this.#users(key));
  }

  /** How many items the real store holds ratings for (0 means nothing stored), among all ever written. */
  async itemsStored(): Promise<number> {
    const counts = await Promise.all([...this.#items.values()].map(async ({ key }) => (await this.#store.aggregate(key)).count));
    return counts.filter((c) => c > 0).length;
  }

  #users(key: ItemKey): Map<string, StoredRating> {
    const id = `${key.tenant}\n${key.item}`;
    let item = this.#items.get(id);
    if (item === undefined) {
      item = { key, users: new Map() };
      this.#items.set(id, item);
    }
    return item.users;
  }
}
