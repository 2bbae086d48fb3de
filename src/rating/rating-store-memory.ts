import { emptyAggregate, type Aggregate, type Histogram } from './aggregate.js';
import type { ItemKey, PutOutcome, RatingStore, RemoveOutcome, StoredRating } from './rating-store.js';

interface ItemState {
  readonly users: Map<string, StoredRating>;
  count: number;
  sum: number;
  readonly histogram: Histogram;
}

/**
 * Ratings in this process's memory, for embedded mode and tests. Each write reads and updates the
 * per-user rating and the aggregate without an `await` in between, so on Node's single thread it
 * is atomic: no other request can interleave. The methods are async only to share the interface.
 */
export class MemoryRatingStore implements RatingStore {
  readonly name = 'memory';
  readonly #items = new Map<string, ItemState>();

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
    const outcome: PutOutcome = { created: previous === undefined, aggregate: snapshot(state), ...(previous ? { previousScore: previous.score } : {}) };
    return Promise.resolve(outcome);
  }

  remove(key: ItemKey, user: string): Promise<RemoveOutcome> {
    const id = itemId(key);
    const state = this.#items.get(id);
    const previous = state?.users.get(user);
    if (state === undefined || previous === undefined) {
      return Promise.resolve({ deleted: false, aggregate: state ? snapshot(state) : emptyAggregate() });
    }
    state.users.delete(user);
    state.count -= 1;
    state.sum -= previous.score;
    state.histogram[previous.score] -= 1;
    // An item with no ratings left holds nothing, as in Redis where the emptied hashes disappear.
    if (state.count === 0) this.#items.delete(id);
    return Promise.resolve({ deleted: true, aggregate: snapshot(state) });
  }

  aggregate(key: ItemKey): Promise<Aggregate> {
    const state = this.#items.get(itemId(key));
    return Promise.resolve(state ? snapshot(state) : emptyAggregate());
  }

  isReady(): boolean {
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
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
