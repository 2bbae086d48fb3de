import { emptyAggregate, type Aggregate, type Histogram } from './aggregate.js';
import type { ChangeKind, ItemKey, ItemSnapshot, PutOutcome, RatingChange, RatingStore, RemoveOutcome, StoredRating } from './rating-store.js';

interface ItemState {
  readonly users: Map<string, StoredRating>;
  count: number;
  sum: number;
  readonly histogram: Histogram;
}

/** Where the memory store publishes each change (the in-process feed). */
export type ChangeSink = (key: ItemKey, change: RatingChange) => void;

/**
 * Ratings in this process's memory, for embedded mode and tests. Each write reads and updates the
 * per-user rating and the aggregate without an `await` in between, so on Node's single thread it
 * is atomic: no other request can interleave. The change is handed to `onChange` in the same step,
 * so changes are published in `seq` order. The methods are async only to share the interface.
 */
export class MemoryRatingStore implements RatingStore {
  readonly name = 'memory';
  readonly #items = new Map<string, ItemState>();
  /** Each item's sequence number; kept when its last rating goes, so it never goes back. */
  readonly #seqs = new Map<string, number>();

  constructor(private readonly onChange: ChangeSink = () => undefined) {}

  put(key: ItemKey, user: string, rating: StoredRating): Promise<PutOutcome> {
    const id = itemId(key);
    let state = this.#items.get(id);
    if (state === undefined) {
      state = { users: new Map(), ...emptyAggregate() };
      this.#items.set(id, state);
    }
    const previous = state.users.get(user);
    if (previous === undefined) {
      state.count += 1;
    } else {
      state.sum -= previous.score;
      state.histogram[previous.score] -= 1;
    }
    state.sum += rating.score;
    state.histogram[rating.score] += 1;
    state.users.set(user, copy(rating));
    const aggregate = snapshot(state);
    const seq = this.#changed(key, previous === undefined ? 'created' : 'replaced', aggregate);
    const outcome: PutOutcome = { created: previous === undefined, aggregate, seq, ...(previous ? { previousScore: previous.score } : {}) };
    return Promise.resolve(outcome);
  }

  remove(key: ItemKey, user: string): Promise<RemoveOutcome> {
    const id = itemId(key);
    const state = this.#items.get(id);
    const previous = state?.users.get(user);
    if (state === undefined || previous === undefined) {
      return Promise.resolve({ deleted: false, aggregate: state ? snapshot(state) : emptyAggregate(), seq: this.#seqs.get(id) ?? 0 });
    }
    state.users.delete(user);
    state.count -= 1;
    state.sum -= previous.score;
    state.histogram[previous.score] -= 1;
    // An item with no ratings left holds nothing but its sequence number, as in Redis.
    if (state.count === 0) this.#items.delete(id);
    const aggregate = snapshot(state);
    return Promise.resolve({ deleted: true, aggregate, seq: this.#changed(key, 'deleted', aggregate) });
  }

  aggregate(key: ItemKey): Promise<Aggregate> {
    const state = this.#items.get(itemId(key));
    return Promise.resolve(state ? snapshot(state) : emptyAggregate());
  }

  snapshot(key: ItemKey): Promise<ItemSnapshot> {
    const id = itemId(key);
    const state = this.#items.get(id);
    return Promise.resolve({ aggregate: state ? snapshot(state) : emptyAggregate(), seq: this.#seqs.get(id) ?? 0 });
  }

  isReady(): boolean {
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Advances the item's sequence number and publishes the change; returns the new number. */
  #changed(key: ItemKey, change: ChangeKind, aggregate: Aggregate): number {
    const id = itemId(key);
    const seq = (this.#seqs.get(id) ?? 0) + 1;
    this.#seqs.set(id, seq);
    this.onChange(key, { seq, change, aggregate });
    return seq;
  }
}

function itemId(key: ItemKey): string {
  return `${key.tenant}:${key.item}`;
}

function snapshot(state: ItemState): Aggregate {
  return { count: state.count, sum: state.sum, histogram: { ...state.histogram } };
}

function copy(rating: StoredRating): StoredRating {
  return rating.comment === undefined ? { score: rating.score } : { score: rating.score, comment: rating.comment };
}
