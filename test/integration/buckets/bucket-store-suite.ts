/**
 * The behaviour every BucketStore must show, run against each store by its own test file. A harness
 * gives the suite a fresh store and the store's notion of time.
 */
import assert from 'node:assert/strict';
import { BucketSpecError } from '../../../src/authz/buckets/bucket-errors.js';
import type { BucketSpec, BucketStore, ChargeResult } from '../../../src/authz/buckets/bucket-store.js';

export interface StoreHarness {
  /** A fresh, ready store over empty state. The harness closes it after the test. */
  open(): Promise<BucketStore>;
  /** The clock the store charges by, in milliseconds (the injected clock, or Redis TIME). */
  nowMs(): Promise<number>;
  /** Lets `ms` of the store's time pass (advance the injected clock, or really wait). */
  pass(ms: number): Promise<void>;
  /** Called by each client before each request (the memory harness advances its clock 1 ms). */
  beforeRequest(): void;
}

function spec(name: string, key: string, capacity: number, refillPerS: number, cost = 1): BucketSpec {
  return { name, key, capacity, refillPerS, cost };
}

function stateOf(result: ChargeResult, name: string): { remaining: number; resetS: number } {
  const b = result.buckets.find((s) => s.name === name);
  assert.ok(b, `bucket ${name} is reported`);
  return b;
}

/** Registers the shared behaviour tests for one store. */
export function behavesLikeABucketStore(harness: () => StoreHarness): void {
  it('admits exactly capacity plus the refill over the elapsed time when 64 clients send 1,000 requests', async () => {
    const h = harness();
    const store = await h.open();
    // 100/s rather than 10/s so that refill shows even in the ~0.1 s a Redis run takes.
    const bucket = spec('global', 'ratings', 50, 100);
    const total = 1000;
    let sent = 0;
    let admitted = 0;
    const client = async (): Promise<void> => {
      while (sent < total) {
        sent++;
        h.beforeRequest();
        const r = await store.charge([bucket]);
        if (r.allowed) admitted++;
      }
    };
    const t0 = await h.nowMs();
    await Promise.all(Array.from({ length: 64 }, client));
    const elapsedS = ((await h.nowMs()) - t0) / 1000;
    const expected = 50 + Math.floor(100 * elapsedS);
    assert.equal(sent, total);
    assert.ok(admitted < total, 'the bucket ran dry at least once');
    assert.ok(Math.abs(admitted - expected) <= 1, `admitted ${admitted}, expected ${expected} ± 1 over ${elapsedS.toFixed(3)} s`);
  });

  it('takes nothing from the user bucket when the global bucket denies the request', async () => {
    const h = harness();
    const store = await h.open();
    // Slow refills, so that no token arrives while the test runs against the real clock of Redis.
    const user = spec('user', 'alice', 10, 0.01);
    const global = spec('global', 'ratings', 2, 0.01);
    assert.equal((await store.charge([user, global])).allowed, true);
    const before = await store.charge([user, global]);
    assert.equal(before.allowed, true);
    assert.equal(stateOf(before, 'user').remaining, 8);

    const denied = await store.charge([user, global]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.deniedBy, 'global');
    assert.equal(stateOf(denied, 'user').remaining, 8);
    const after = await store.charge([{ ...user, cost: 0 }]);
    assert.equal(stateOf(after, 'user').remaining, 8);
  });

  it('names the first denying bucket and waits for the slowest one in retryAfterS', async () => {
    const h = harness();
    const store = await h.open();
    const fast = spec('user', 'bob', 1, 1);
    const slow = spec('tenant', 'globex', 1, 0.25);
    assert.equal((await store.charge([fast, slow])).allowed, true);
    const denied = await store.charge([fast, slow]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.deniedBy, 'user');
    assert.equal(denied.retryAfterS, 4);
  });

  it('denies with retryAfterS 1 after a 5/s bucket is drained, and admits after that second', async () => {
    const h = harness();
    const store = await h.open();
    const bucket = spec('user', 'alice', 5, 5);
    for (let i = 0; i < 5; i++) assert.equal((await store.charge([bucket])).allowed, true, `request ${i + 1} is admitted`);
    const denied = await store.charge([bucket]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.deniedBy, 'user');
    assert.equal(denied.retryAfterS, 1);
    await h.pass(denied.retryAfterS * 1000);
    const again = await store.charge([bucket]);
    assert.equal(again.allowed, true);
  });

  it('reports whole remaining tokens and whole seconds until full', async () => {
    const h = harness();
    const store = await h.open();
    const r = await store.charge([spec('user', 'carol', 10, 2, 3)]);
    assert.equal(r.allowed, true);
    assert.deepEqual(r.buckets, [{ name: 'user', key: 'carol', capacity: 10, remaining: 7, resetS: 2 }]);
    assert.equal(r.retryAfterS, undefined);
    assert.equal(r.deniedBy, undefined);
  });

  it('keeps buckets of different names apart even when their keys are equal', async () => {
    const h = harness();
    const store = await h.open();
    await store.charge([spec('user', 'acme', 5, 1, 5)]);
    const tenant = await store.charge([spec('tenant', 'acme', 5, 1, 1)]);
    assert.equal(stateOf(tenant, 'tenant').remaining, 4);
  });

  it('allows a request that names no bucket', async () => {
    const h = harness();
    const store = await h.open();
    const r = await store.charge([]);
    assert.equal(r.allowed, true);
    assert.deepEqual(r.buckets, []);
  });

  it('rejects specs with a cost above the capacity as a policy_error', async () => {
    const h = harness();
    const store = await h.open();
    await assert.rejects(store.charge([spec('user', 'alice', 5, 1, 6)]), (err: unknown) => {
      assert.ok(err instanceof BucketSpecError);
      assert.equal(err.code, 'policy_error');
      return true;
    });
  });

  it('rejects a bucket that would take more than a year to refill as a policy_error', async () => {
    const h = harness();
    const store = await h.open();
    await assert.rejects(store.charge([spec('user', 'alice', 1000, 1e-6)]), (err: unknown) => err instanceof BucketSpecError && err.code === 'policy_error');
  });

  it('rejects a request that names the same bucket twice as a policy_error', async () => {
    const h = harness();
    const store = await h.open();
    const b = spec('user', 'alice', 5, 1);
    await assert.rejects(store.charge([b, b]), (err: unknown) => err instanceof BucketSpecError && err.code === 'policy_error');
  });
}
