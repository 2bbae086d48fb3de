import assert from 'node:assert/strict';
import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import { behavesLikeARatingStore } from './rating-store-suite.js';

describe('MemoryRatingStore', () => {
  behavesLikeARatingStore(() => {
    // One instance stands for every "client": a process's memory is the shared state.
    const store = new MemoryRatingStore();
    return { open: () => Promise.resolve(store) };
  });

  it('holds nothing for an item once its last rating is removed', async () => {
    const store = new MemoryRatingStore();
    await store.put({ tenant: 'acme', item: 'i1' }, 'alice', { score: 3 });
    assert.equal(store.itemCount, 1);
    await store.remove({ tenant: 'acme', item: 'i1' }, 'alice');
    assert.equal(store.itemCount, 0);
  });

  it('hands out copies, so a caller cannot change a stored rating or aggregate', async () => {
    const store = new MemoryRatingStore();
    const key = { tenant: 'acme', item: 'i1' };
    const { aggregate } = await store.put(key, 'alice', { score: 3 });
    (aggregate.histogram as Record<string, number>)['3'] = 99;
    const got = await store.get(key, 'alice');
    (got as { score: number }).score = 1;
    assert.deepEqual(await store.aggregate(key), { count: 1, sum: 3, histogram: { '1': 0, '2': 0, '3': 1, '4': 0, '5': 0 } });
    assert.deepEqual(await store.get(key, 'alice'), { score: 3 });
  });
});
