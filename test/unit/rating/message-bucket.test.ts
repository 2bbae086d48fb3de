import assert from 'node:assert/strict';
import { MessageBucket } from '../../../src/rating/stream/message-bucket.js';

describe('MessageBucket: a stream\'s message budget', () => {
  it('admits its capacity at once, then one message per refill interval', () => {
    let now = 0;
    const bucket = new MessageBucket(3, 2, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
    assert.equal(bucket.msUntilNext(), 500);
    now = 499;
    assert.equal(bucket.take(), false);
    now = 500;
    assert.equal(bucket.take(), true);
    assert.equal(bucket.take(), false);
  });

  it('never holds more than its capacity, however long it waits', () => {
    let now = 0;
    const bucket = new MessageBucket(2, 100, () => now);
    now = 60_000;
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [true, true, false]);
    assert.equal(bucket.msUntilNext() > 0, true);
  });
});
