import type { Redis } from 'ioredis';
import { z } from 'zod';
import { closeRedisClient, createRedisClient, type RedisServer } from '../../shared/redis-client.js';
import type { WorkloadTls } from '../../shared/tls/workload-tls.js';
import { aggregateFromCounts } from '../aggregate.js';
import { ratingError } from '../rating-errors.js';
import type { ItemKey, RatingChange } from '../rating-store.js';
import { eventsChannel } from './events-channel.js';
import type { ChangeListener, RatingFeed, Subscription } from './rating-feed.js';

/** How long a SUBSCRIBE may take before the stream's handshake fails with 503. */
const COMMAND_TIMEOUT_MS = 2000;

/** A change as rating-scripts.ts publishes it. */
const publishedSchema = z.object({
  seq: z.number().int().positive(),
  change: z.enum(['created', 'replaced', 'deleted']),
  agg: z.array(z.number().int().nonnegative()).length(7),
});

interface RedisRatingFeedOptions {
  /** REDIS_URL and Redis's SPIFFE ID. */
  readonly server: RedisServer;
  /** The rating API's certificate and Redis password (ACL user `rating-api`: `&zt:rating-events:*`), followed through rotations. */
  readonly identity: WorkloadTls;
  readonly onError?: (err: Error) => void;
  /** A published message that is not a change (a bug, or someone else publishing on the prefix). */
  readonly onBadMessage?: (channel: string, err: unknown) => void;
}

/**
 * The feed across replicas: Redis pub/sub on `zt:rating-events:<tenant>:<item>`, one subscriber
 * connection per process (a connection in subscriber mode can do nothing else), subscribed to an
 * item's channel while at least one local stream watches it.
 *
 * Pub/sub rather than Redis streams: the write script publishes in the same atomic step as the
 * write, so every replica hears an item's changes in `seq` order with nothing stored per event and
 * no consumer state to trim or clean up; what pub/sub does not give, delivery across a lost
 * connection, is covered by the sequence numbers: after a reconnect every subscriber is told of a
 * gap and re-reads a snapshot, and a jump in `seq` does the same (stream-session.ts). A stream is a
 * live view, not a log to replay, so nothing is lost that a snapshot does not restore.
 */
export class RedisRatingFeed implements RatingFeed {
  readonly name = 'redis';
  readonly #client: Redis;
  readonly #channels = new Map<string, { listeners: Set<ChangeListener>; subscribed: Promise<unknown> }>();
  readonly #gapListeners: (() => void)[] = [];
  #connectedBefore = false;
  #closed = false;

  constructor(private readonly options: RedisRatingFeedOptions) {
    this.#client = createRedisClient({ server: options.server, identity: options.identity, connectionName: 'zt-rating-events', commandTimeoutMs: COMMAND_TIMEOUT_MS, onError: options.onError });
    this.#client.on('message', (channel: string, message: string) => this.#deliver(channel, message));
    this.#client.on('ready', () => {
      if (this.#connectedBefore) void this.#resubscribe();
      this.#connectedBefore = true;
    });
  }

  async subscribe(key: ItemKey, listener: ChangeListener): Promise<Subscription> {
    if (this.#closed || this.#client.status !== 'ready') {
      throw ratingError('unavailable', { cause: new Error(`redis connection is ${this.#closed ? 'closed' : this.#client.status}`) });
    }
    const channel = eventsChannel(key);
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { listeners: new Set(), subscribed: this.#client.subscribe(channel) };
      this.#channels.set(channel, entry);
    }
    const wrapped: ChangeListener = (change) => listener(change);
    entry.listeners.add(wrapped);
    const unsubscribe = (): void => {
      const current = this.#channels.get(channel);
      if (current === undefined || !current.listeners.delete(wrapped) || current.listeners.size > 0) return;
      this.#channels.delete(channel);
      if (!this.#closed && this.#client.status === 'ready') this.#client.unsubscribe(channel).catch(() => undefined);
    };
    try {
      await entry.subscribed;
    } catch (err) {
      unsubscribe();
      throw ratingError('unavailable', { cause: err });
    }
    return { unsubscribe };
  }

  onGap(listener: () => void): void {
    this.#gapListeners.push(listener);
  }

  isReady(): boolean {
    return !this.#closed && this.#client.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channels.clear();
    await closeRedisClient(this.#client);
  }

  #deliver(channel: string, message: string): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    let change: RatingChange;
    try {
      const parsed = publishedSchema.parse(JSON.parse(message));
      change = { seq: parsed.seq, change: parsed.change, aggregate: aggregateFromCounts(parsed.agg) };
    } catch (err) {
      this.options.onBadMessage?.(channel, err);
      return;
    }
    for (const listener of [...entry.listeners]) listener(change);
  }

  /**
   * After a reconnect: subscribe to every channel again (ioredis would too, but without saying when
   * it is done), then tell every subscriber that changes published meanwhile may be lost.
   */
  async #resubscribe(): Promise<void> {
    const channels = [...this.#channels.keys()];
    try {
      if (channels.length > 0) await this.#client.subscribe(...channels);
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
    for (const listener of this.#gapListeners) listener();
  }
}
