import assert from 'node:assert/strict';
import { MemoryBucketStore } from '../../../src/authz/buckets/token-bucket-memory.js';
import { behavesLikeABucketStore, type StoreHarness } from './bucket-store-suite.js';

function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('MemoryBucketStore', () => {
  const opened: MemoryBucketStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  function open(options: ConstructorParameters<typeof MemoryBucketStore>[0]): MemoryBucketStore {
    const store = new MemoryBucketStore({ sweepIntervalMs: 0, ...options });
    opened.push(store);
    return store;
  }

  behavesLikeABucketStore((): StoreHarness => {
    const clock = manualClock();
    let requests = 0;
    return {
      open: () => Promise.resolve(open({ now: clock.now })),
      nowMs: () => Promise.resolve(clock.now()),
      pass: (ms) => Promise.resolve(clock.advance(ms)),
      // One request per millisecond, the first at the instant the suite starts its measurement.
      beforeRequest: () => {
        if (requests++ > 0) clock.advance(1);
      },
    };
  });

  it('drops the least recently charged bucket when it holds maxKeys buckets', async () => {
    const clock = manualClock();
    const store = open({ now: clock.now, maxKeys: 3 });
    const b = (key: string) => [{ name: 'user', key, capacity: 10, refillPerS: 0.001, cost: 1 }];
    for (const key of ['a', 'b', 'c', 'a', 'd']) await store.charge(b(key));
    assert.equal(store.size, 3);
    assert.equal((await store.charge(b('a'))).buckets[0]?.remaining, 7);
    // b was dropped, so it reads as a full bucket again.
    assert.equal((await store.charge(b('b'))).buckets[0]?.remaining, 9);
    assert.equal(store.size, 3);
  });

  it('sweeps out buckets once they have refilled and keeps the others', async () => {
    const clock = manualClock();
    const store = open({ now: clock.now });
    await store.charge([{ name: 'user', key: 'fast', capacity: 10, refillPerS: 10, cost: 5 }]);
    await store.charge([{ name: 'user', key: 'slow', capacity: 10, refillPerS: 1, cost: 5 }]);
    assert.equal(store.size, 2);
    clock.advance(499);
    assert.equal(store.sweep(), 0);
    clock.advance(1);
    assert.equal(store.sweep(), 1);
    assert.equal(store.size, 1);
  });

  it('holds no entry for a bucket that stays full', async () => {
    const store = open({ now: manualClock().now });
    const r = await store.charge([{ name: 'user', key: 'idle', capacity: 3, refillPerS: 1, cost: 0 }]);
    assert.equal(r.allowed, true);
    assert.equal(r.buckets[0]?.remaining, 3);
    assert.equal(store.size, 0);
  });

  it('mints no tokens when the clock steps backwards', async () => {
    const clock = manualClock();
    const store = open({ now: clock.now });
    const bucket = [{ name: 'user', key: 'alice', capacity: 2, refillPerS: 1, cost: 1 }];
    await store.charge(bucket);
    await store.charge(bucket);
    clock.advance(-60_000);
    const r = await store.charge(bucket);
    assert.equal(r.allowed, false);
    assert.equal(r.retryAfterS, 1);
  });

  it('sweeps full buckets on its own timer', async () => {
    const store = open({ sweepIntervalMs: 5 });
    await store.charge([{ name: 'user', key: 'x', capacity: 1, refillPerS: 1000, cost: 1 }]);
    assert.equal(store.size, 1);
    const deadline = Date.now() + 5000;
    while (store.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(store.size, 0);
  });
});
