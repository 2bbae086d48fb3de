import type { Redis, Result } from 'ioredis';
import { closeRedisClient, createRedisClient, type RedisServer } from '../shared/redis-client.js';
import type { WorkloadTls } from '../shared/tls/workload-tls.js';
import { asScore, type Aggregate } from './aggregate.js';
import { eventsChannel } from './feed/events-channel.js';
import { ratingError } from './rating-errors.js';
import { PUT_SCRIPT, REMOVE_SCRIPT, SNAPSHOT_SCRIPT } from './rating-scripts.js';
import type { ItemKey, ItemSnapshot, PutOutcome, RatingStore, RemoveOutcome, StoredRating } from './rating-store.js';
import { aggregateReply, scriptReply, snapshotReply } from './redis-replies.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** PUT_SCRIPT, registered with defineCommand (EVALSHA, with EVAL on NOSCRIPT). */
    ztRatingPut(numKeys: number, ...keysAndArgs: string[]): Result<unknown, Context>;
    /** REMOVE_SCRIPT, likewise. */
    ztRatingRemove(numKeys: number, ...keysAndArgs: string[]): Result<unknown, Context>;
    /** SNAPSHOT_SCRIPT, likewise. */
    ztRatingSnapshot(numKeys: number, ...keysAndArgs: string[]): Result<unknown, Context>;
  }
}

interface RedisRatingStoreOptions {
  /** REDIS_URL and Redis's SPIFFE ID. */
  readonly server: RedisServer;
  /** The rating API's certificate and Redis password (ACL user `rating-api`), followed through rotations. */
  readonly identity: WorkloadTls;
  /** Connection-level errors, which ioredis reports as `error` events while it reconnects. */
  readonly onError?: (err: Error) => void;
}

/** How long one command may take before the request fails with 503. */
const COMMAND_TIMEOUT_MS = 2000;
/** Every key of the store starts with this. */
const KEY_PREFIX = 'zt:rating:';

/**
 * Ratings in Redis, shared by every rating API replica. Each write is one Lua script that updates
 * the user's rating and the item's aggregate together and publishes the change on the item's
 * events channel (see rating-scripts.ts), where every replica's feed hears it.
 *
 * No offline queue and no resend: a write while Redis is away fails at once with 503 instead of
 * piling up, and a script that may have run is never run a second time (a resent create would
 * report `created: false`).
 */
export class RedisRatingStore implements RatingStore {
  readonly name = 'redis';
  readonly #client: Redis;
  #closed = false;

  constructor(options: RedisRatingStoreOptions) {
    this.#client = createRedisClient({ server: options.server, identity: options.identity, connectionName: 'zt-rating-store', commandTimeoutMs: COMMAND_TIMEOUT_MS, onError: options.onError });
    this.#client.defineCommand('ztRatingPut', { lua: PUT_SCRIPT });
    this.#client.defineCommand('ztRatingRemove', { lua: REMOVE_SCRIPT });
    this.#client.defineCommand('ztRatingSnapshot', { lua: SNAPSHOT_SCRIPT });
  }

  async put(key: ItemKey, user: string, rating: StoredRating): Promise<PutOutcome> {
    const k = keysOf(key);
    const reply = await this.#run(() => this.#client.ztRatingPut(2, k.users, k.agg, user, String(rating.score), JSON.stringify(rating), eventsChannel(key)), scriptReply);
    const previousScore = asScore(reply.old);
    return { created: reply.flag === 1, aggregate: reply.aggregate, seq: reply.seq, ...(previousScore === undefined ? {} : { previousScore }) };
  }

  async remove(key: ItemKey, user: string): Promise<RemoveOutcome> {
    const k = keysOf(key);
    const reply = await this.#run(() => this.#client.ztRatingRemove(2, k.users, k.agg, user, eventsChannel(key)), scriptReply);
    return { deleted: reply.flag === 1, aggregate: reply.aggregate, seq: reply.seq };
  }

  async aggregate(key: ItemKey): Promise<Aggregate> {
    return this.#run(() => this.#client.hmget(keysOf(key).agg, 'count', 'sum', '1', '2', '3', '4', '5'), aggregateReply);
  }

  async snapshot(key: ItemKey): Promise<ItemSnapshot> {
    return this.#run(() => this.#client.ztRatingSnapshot(1, keysOf(key).agg), snapshotReply);
  }

  isReady(): boolean {
    return !this.#closed && this.#client.status === 'ready';
  }

  /** Quits politely when connected, and stops reconnecting in any case. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeRedisClient(this.#client);
  }

  /**
   * Runs a command and turns every failure (not connected, timeout, script error, odd reply) into
   * `unavailable`, keeping the library's error as the cause for the log.
   */
  async #run<T>(run: () => Promise<unknown>, parse: (reply: unknown) => T): Promise<T> {
    if (this.#closed || this.#client.status !== 'ready') {
      throw ratingError('unavailable', { cause: new Error(`redis connection is ${this.#client.status}`) });
    }
    let reply: unknown;
    try {
      reply = await run();
    } catch (err) {
      throw ratingError('unavailable', { cause: err });
    }
    try {
      return parse(reply);
    } catch (err) {
      throw ratingError('unavailable', { cause: err });
    }
  }
}

/** `zt:rating:<tenant>:<item>:users` and `:agg`; ids cannot hold `:`, so keys never collide. */
function keysOf(key: ItemKey): { users: string; agg: string } {
  const base = `${KEY_PREFIX}${key.tenant}:${key.item}`;
  return { users: `${base}:users`, agg: `${base}:agg` };
}
