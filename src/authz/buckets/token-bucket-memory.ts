import { performance } from 'node:perf_hooks';
import { bucketId, ceilSeconds, checkSpecs, TOKEN_EPSILON, wholeTokens } from './bucket-spec.js';
import type { BucketSpec, BucketState, BucketStore, ChargeResult } from './bucket-store.js';

/** Options of the in-process store. */
export interface MemoryBucketStoreOptions {
  /** Monotonic clock in milliseconds; tests inject one they control. Default `performance.now`. */
  readonly now?: () => number;
  /**
   * Most buckets held at once. Past it the least recently charged bucket is dropped, which forgets
   * its debt (it reads as full again): bounded memory matters more than exactness for a bucket
   * nobody has touched for the longest time. Default 100,000.
   */
  readonly maxKeys?: number;
  /** How often full buckets are swept out; 0 disables the timer (call `sweep()` yourself). Default 10 s. */
  readonly sweepIntervalMs?: number;
}

interface Entry {
  tokens: number;
  /** Clock reading when `tokens` was computed. */
  ts: number;
  /** Clock reading at which the bucket is full again and its entry is worth nothing. */
  fullAt: number;
}

/**
 * Token buckets in a Map: the embedded default, and the local fallback when Redis fails. Same
 * arithmetic as the Redis script (continuous refill, fractional tokens, all or nothing), so a
 * request sees the same limits whichever store decides. A full bucket holds no entry, like an
 * expired Redis key.
 */
export class MemoryBucketStore implements BucketStore {
  readonly name = 'memory';
  private readonly buckets = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxKeys: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: MemoryBucketStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.maxKeys = options.maxKeys ?? 100_000;
    if (!(Number.isInteger(this.maxKeys) && this.maxKeys > 0)) throw new RangeError('maxKeys must be a positive integer');
    const interval = options.sweepIntervalMs ?? 10_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.sweep(), interval);
      // A sweep timer must never keep a process alive on its own.
      this.timer.unref();
    }
  }

  /** Number of buckets currently held (full buckets are not held once swept or charged). */
  get size(): number {
    return this.buckets.size;
  }

  // async so that a BucketSpecError becomes a rejection, as the seam promises, never a throw.
  // eslint-disable-next-line @typescript-eslint/require-await
  async charge(specs: readonly BucketSpec[]): Promise<ChargeResult> {
    checkSpecs(specs);
    const n = specs.length;
    if (n === 0) return { allowed: true, buckets: [], source: 'memory' };
    const now = this.now();
    const ids = new Array<string>(n);
    const tokens = new Array<number>(n);
    let denied = -1;
    let waitMs = 0;
    for (let i = 0; i < n; i++) {
      const spec = specs[i]!;
      const id = bucketId(spec);
      ids[i] = id;
      const t = this.tokensAt(this.buckets.get(id), spec, now);
      tokens[i] = t;
      if (t + TOKEN_EPSILON < spec.cost) {
        if (denied < 0) denied = i;
        const w = ((spec.cost - t) / spec.refillPerS) * 1000;
        if (w > waitMs) waitMs = w;
      }
    }
    if (denied >= 0) {
      return {
        allowed: false,
        buckets: states(specs, tokens),
        retryAfterS: Math.max(1, ceilSeconds(waitMs)),
        deniedBy: specs[denied]!.name,
        source: 'memory',
      };
    }
    for (let i = 0; i < n; i++) {
      const spec = specs[i]!;
      const id = ids[i]!;
      const t = tokens[i]! - spec.cost;
      tokens[i] = t;
      // Delete then set moves the key to the end of the Map's order, which makes the first key the
      // least recently charged one: the eviction victim.
      this.buckets.delete(id);
      if (t < spec.capacity - TOKEN_EPSILON) {
        this.buckets.set(id, { tokens: t, ts: now, fullAt: now + ((spec.capacity - t) / spec.refillPerS) * 1000 });
      }
    }
    while (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done === true) break;
      this.buckets.delete(oldest.value);
    }
    return { allowed: true, buckets: states(specs, tokens), source: 'memory' };
  }

  /** Drops every bucket that has refilled completely. Returns how many were dropped. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, entry] of this.buckets) {
      if (entry.fullAt <= now) {
        this.buckets.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  isReady(): boolean {
    return !this.closed;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.buckets.clear();
    return Promise.resolve();
  }

  private tokensAt(entry: Entry | undefined, spec: BucketSpec, now: number): number {
    if (entry === undefined) return spec.capacity;
    // A clock that steps back must not mint or burn tokens.
    const elapsedMs = now > entry.ts ? now - entry.ts : 0;
    const t = entry.tokens + (elapsedMs * spec.refillPerS) / 1000;
    return t < spec.capacity ? t : spec.capacity;
  }
}

function states(specs: readonly BucketSpec[], tokens: readonly number[]): BucketState[] {
  const out = new Array<BucketState>(specs.length);
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i]!;
    const t = tokens[i]!;
    out[i] = {
      name: s.name,
      key: s.key,
      capacity: s.capacity,
      remaining: wholeTokens(t),
      resetS: ceilSeconds(((s.capacity - t) / s.refillPerS) * 1000),
    };
  }
  return out;
}
