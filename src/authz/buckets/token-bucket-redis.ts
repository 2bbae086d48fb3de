import type { Redis, Result } from 'ioredis';
import { closeRedisClient } from '../../shared/redis-client.js';
import { BucketStoreUnavailableError } from './bucket-errors.js';
import { bucketId, ceilSeconds, checkSpecs } from './bucket-spec.js';
import type { BucketSpec, BucketState, BucketStore, ChargeResult } from './bucket-store.js';
import { CHARGE_SCRIPT } from './charge-script.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** CHARGE_SCRIPT, registered with defineCommand (EVALSHA, with EVAL on NOSCRIPT). */
    ztBucketCharge(numKeys: number, ...keysAndArgs: string[]): Result<unknown, Context>;
  }
}

/** Prefix of every bucket key: `zt:bucket:<name>:<key>`. */
const KEY_PREFIX = 'zt:bucket:';

/**
 * The charge script's reply is an array of integers. A hand check rather than a zod schema: it runs
 * on every request, and `z.array(z.number().int())` accepts exactly the same values (safe integers).
 */
function isIntegerReply(reply: unknown): reply is number[] {
  return Array.isArray(reply) && reply.every((v) => Number.isSafeInteger(v));
}

/**
 * Token buckets in Redis, shared by every authz replica. One round trip per request: all of the
 * request's buckets are charged by one Lua script (see CHARGE_SCRIPT), all or nothing, on Redis
 * server time. `charge` rejects only with BucketSpecError or BucketStoreUnavailableError.
 *
 * The client comes from the one Redis client factory (src/shared/redis-client.ts), which fails
 * instead of waiting: no offline queue (a charge while disconnected fails at once), a small command
 * timeout (RATE_LIMIT_REDIS_TIMEOUT_MS), and no retry or resend of a charge, because a charge that
 * may have run once must not run twice. The store owns the client and closes it.
 */
export class RedisBucketStore implements BucketStore {
  readonly name = 'redis';
  private closed = false;

  constructor(private readonly client: Redis) {
    this.client.defineCommand('ztBucketCharge', { lua: CHARGE_SCRIPT });
  }

  async charge(specs: readonly BucketSpec[]): Promise<ChargeResult> {
    checkSpecs(specs);
    const n = specs.length;
    if (n === 0) return { allowed: true, buckets: [], source: 'redis' };
    if (this.closed || this.client.status !== 'ready') {
      throw new BucketStoreUnavailableError(this.name, { cause: new Error(`redis connection is ${this.client.status}`) });
    }
    const args = new Array<string>(n * 4);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      args[i] = KEY_PREFIX + bucketId(s);
      args[n + 3 * i] = String(s.capacity);
      args[n + 3 * i + 1] = String(s.refillPerS);
      args[n + 3 * i + 2] = String(s.cost);
    }
    let reply: unknown;
    try {
      reply = await this.client.ztBucketCharge(n, ...args);
    } catch (err) {
      throw new BucketStoreUnavailableError(this.name, { cause: err });
    }
    return this.toResult(specs, reply);
  }

  isReady(): boolean {
    return !this.closed && this.client.status === 'ready';
  }

  /** Quits politely when connected, and stops reconnecting in any case. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeRedisClient(this.client);
  }

  private toResult(specs: readonly BucketSpec[], reply: unknown): ChargeResult {
    const n = specs.length;
    if (!isIntegerReply(reply) || reply.length !== 3 + 2 * n) {
      throw new BucketStoreUnavailableError(this.name, { cause: new Error('unexpected reply from the charge script') });
    }
    const r = reply;
    const buckets = new Array<BucketState>(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      buckets[i] = { name: s.name, key: s.key, capacity: s.capacity, remaining: r[3 + 2 * i]!, resetS: ceilSeconds(r[4 + 2 * i]!) };
    }
    if (r[0] === 1) return { allowed: true, buckets, source: 'redis' };
    const denied = specs[r[1]! - 1];
    if (r[0] !== 0 || denied === undefined) {
      throw new BucketStoreUnavailableError(this.name, { cause: new Error('unexpected reply from the charge script') });
    }
    return { allowed: false, buckets, retryAfterS: Math.max(1, ceilSeconds(r[2]!)), deniedBy: denied.name, source: 'redis' };
  }
}
