import assert from 'node:assert/strict';
import { emptyAggregate } from '../../../src/rating/aggregate.js';
import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import type { StoredRating } from '../../../src/rating/rating-store.js';
import { behavesLikeARatingStore } from './rating-store-suite.js';
import { RecordingStore } from './recording-store.js';

describe('MemoryRatingStore', () => {
  behavesLikeARatingStore(() => {
    // One instance stands for every "client": a process's memory is the shared state.
    const store = new RecordingStore();
    return { open: () => Promise.resolve(store), ratings: (key) => Promise.resolve(store.ratings(key)) };
  });

  it('starts an item afresh once its last rating is removed, but its sequence number carries on', async () => {
    const store = new MemoryRatingStore();
    const key = { tenant: 'acme', item: 'i1' };
    await store.put(key, 'alice', { score: 3 });
    assert.deepEqual(await store.remove(key, 'alice'), { deleted: true, aggregate: emptyAggregate(), seq: 2 });
    assert.deepEqual(await store.aggregate(key), emptyAggregate());
    assert.deepEqual(await store.put(key, 'alice', { score: 4 }), { created: true, aggregate: { count: 1, sum: 4, histogram: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 0 } }, seq: 3 });
  });

  it('keeps copies, so a caller cannot change a stored rating or aggregate', async () => {
    const store = new MemoryRatingStore();
    const key = { tenant: 'acme', item: 'i1' };
    const rating: StoredRating = { score: 3 };
    const { aggregate } = await store.put(key, 'alice', rating);
    (aggregate.histogram as Record<string, number>)['3'] = 99;
    (rating as { score: number }).score = 1;
    assert.deepEqual(await store.aggregate(key), { count: 1, sum: 3, histogram: { '1': 0, '2': 0, '3': 1, '4': 0, '5': 0 } });
    assert.equal((await store.put(key, 'alice', { score: 2 })).previousScore, 3, 'the stored rating is the one given, not the caller\'s object');
  });
});
