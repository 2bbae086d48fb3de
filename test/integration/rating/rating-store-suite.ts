/**
 * The behaviour every RatingStore must show, run against each store by its own test file. The
 * harness gives the suite fresh stores over one shared, empty state: with Redis, several clients
 * (as several API replicas would be); with memory, the one instance.
 */
import assert from 'node:assert/strict';
import { emptyAggregate, type Aggregate, type Score } from '../../../src/rating/aggregate.js';
import type { ItemKey, RatingStore, StoredRating } from '../../../src/rating/rating-store.js';
import { prng } from '../../helpers/prng.js';

export interface RatingStoreHarness {
  /** A ready store over the shared state; the harness closes it after the test. */
  open(): Promise<RatingStore>;
  /** Every user's rating of an item as the backend holds it (the store has no such read). */
  ratings(key: ItemKey): Promise<ReadonlyMap<string, StoredRating>>;
}

const I1: ItemKey = { tenant: 'acme', item: 'i1' };

/** The aggregate recomputed from the stored per-user ratings: what the stored totals must equal. */
function recomputed(ratings: ReadonlyMap<string, StoredRating>): Aggregate {
  const agg = { count: 0, sum: 0, histogram: { ...emptyAggregate().histogram } };
  for (const r of ratings.values()) {
    agg.count += 1;
    agg.sum += r.score;
    agg.histogram[r.score] += 1;
  }
  return agg;
}

/** Registers the shared store tests. */
export function behavesLikeARatingStore(harness: () => RatingStoreHarness): void {
  it('creates, then replaces, reporting the replaced score and the aggregate after each write', async () => {
    const h = harness();
    const store = await h.open();
    const first = await store.put(I1, 'alice', { score: 2, comment: 'meh' });
    assert.deepEqual(first, { created: true, aggregate: { count: 1, sum: 2, histogram: { '1': 0, '2': 1, '3': 0, '4': 0, '5': 0 } }, seq: 1 });
    const second = await store.put(I1, 'alice', { score: 5 });
    assert.deepEqual(second, { created: false, previousScore: 2, aggregate: { count: 1, sum: 5, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 1 } }, seq: 2 });
    assert.deepEqual(await h.ratings(I1), new Map([['alice', { score: 5 }]]));
    assert.deepEqual((await store.put(I1, 'alice', { score: 1 })).previousScore, 5);
  });

  it('removes a rating and its score from the aggregate, and reports a missing one without changing anything', async () => {
    const h = harness();
    const store = await h.open();
    await store.put(I1, 'alice', { score: 1 });
    await store.put(I1, 'bob', { score: 4 });
    assert.deepEqual(await store.remove(I1, 'carol'), { deleted: false, aggregate: { count: 2, sum: 5, histogram: { '1': 1, '2': 0, '3': 0, '4': 1, '5': 0 } }, seq: 2 });
    assert.deepEqual(await store.remove(I1, 'alice'), { deleted: true, aggregate: { count: 1, sum: 4, histogram: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 0 } }, seq: 3 });
    assert.deepEqual(await h.ratings(I1), new Map([['bob', { score: 4 }]]));
    assert.deepEqual(await store.remove(I1, 'bob'), { deleted: true, aggregate: emptyAggregate(), seq: 4 });
    assert.deepEqual(await store.aggregate(I1), emptyAggregate());
    assert.deepEqual(await store.snapshot(I1), { aggregate: emptyAggregate(), seq: 4 }, 'the sequence number outlives the last rating');
  });

  it('answers an unknown item with an empty aggregate and removes an unknown user\'s rating as a no-op', async () => {
    const store = await harness().open();
    assert.deepEqual(await store.aggregate({ tenant: 'acme', item: 'nothing' }), emptyAggregate());
    assert.deepEqual(await store.remove({ tenant: 'acme', item: 'nothing' }, 'nobody'), { deleted: false, aggregate: emptyAggregate(), seq: 0 });
    assert.deepEqual(await store.snapshot({ tenant: 'acme', item: 'nothing' }), { aggregate: emptyAggregate(), seq: 0 });
  });

  it('keeps the same item id in two tenants apart', async () => {
    const store = await harness().open();
    await store.put({ tenant: 'acme', item: 'x' }, 'alice', { score: 5 });
    await store.put({ tenant: 'globex', item: 'x' }, 'alice', { score: 1 });
    assert.equal((await store.aggregate({ tenant: 'acme', item: 'x' })).sum, 5);
    assert.equal((await store.aggregate({ tenant: 'globex', item: 'x' })).sum, 1);
  });

  it('keeps the totals equal to the stored ratings under 600 concurrent creates, replaces and removes from 4 clients', async () => {
    const h = harness();
    const clients = await Promise.all([h.open(), h.open(), h.open(), h.open()]);
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    const rnd = prng(42);
    const ops: Promise<unknown>[] = [];
    let removes = 0;
    for (let i = 0; i < 600; i++) {
      const store = clients[i % clients.length]!;
      const user = users[Math.floor(rnd() * users.length)]!;
      if (rnd() < 0.2) {
        removes++;
        ops.push(store.remove(I1, user));
      } else {
        ops.push(store.put(I1, user, { score: (Math.floor(rnd() * 5) + 1) as Score }));
      }
    }
    await Promise.all(ops);
    assert.ok(removes > 50, 'the mix holds removes');
    const totals = await clients[0].aggregate(I1);
    assert.deepEqual(totals, recomputed(await h.ratings(I1)));
    assert.ok(totals.count > 0);
  });

  it('reports exactly one create when 30 clients write the same user at once', async () => {
    const h = harness();
    const clients = await Promise.all([h.open(), h.open(), h.open()]);
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => clients[i % 3]!.put(I1, 'alice', { score: ((i % 5) + 1) as Score })));
    assert.equal(outcomes.filter((o) => o.created).length, 1);
    const agg = await clients[0].aggregate(I1);
    assert.equal(agg.count, 1);
    assert.equal(agg.sum, (await h.ratings(I1)).get('alice')?.score);
  });
}
