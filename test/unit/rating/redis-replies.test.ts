import assert from 'node:assert/strict';
import { aggregateReply, scriptReply, snapshotReply } from '../../../src/rating/redis-replies.js';

describe('the rating store reads its Redis replies', () => {
  it('reads a write script reply: flag, old score, seq, then the aggregate, a nil field counting 0', () => {
    assert.deepEqual(scriptReply([1, 0, 7, '2', '6', null, '1', null, '1', null]), {
      flag: 1,
      old: 0,
      seq: 7,
      aggregate: { count: 2, sum: 6, histogram: { '1': 0, '2': 1, '3': 0, '4': 1, '5': 0 } },
    });
  });

  it('reads all-nil aggregate fields as an item never rated', () => {
    assert.deepEqual(aggregateReply([null, null, null, null, null, null, null]), { count: 0, sum: 0, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });
    assert.deepEqual(snapshotReply([3, null, null, null, null, null, null, null]), { seq: 3, aggregate: { count: 0, sum: 0, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } } });
  });

  it('refuses a reply of another shape, so that the call fails instead of answering wrong', () => {
    const agg = ['1', '5', null, null, null, null, '1'];
    for (const odd of [undefined, 'OK', [1, 0, 1, ...agg.slice(1)], [1, 0, 1, ...agg, null], ['1', 0, 1, ...agg], [1, 0, 1.5, ...agg]]) {
      assert.throws(() => scriptReply(odd), Error, JSON.stringify(odd));
    }
    assert.throws(() => aggregateReply(['1', '-1', null, null, null, null, null]), /not a count/);
    assert.throws(() => aggregateReply(['1', 'x', null, null, null, null, null]), /not a count/);
    assert.throws(() => aggregateReply([1, '1', null, null, null, null, null]), /neither a string nor nil/);
    assert.throws(() => snapshotReply([null, ...agg]), /not an integer/);
  });
});
