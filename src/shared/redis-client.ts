import { Redis } from 'ioredis';

/** How a store's Redis client behaves; every field has a fail-fast default. */
export interface RedisClientOptions {
  /** REDIS_URL. */
  readonly url: URL;
  /** `CLIENT SETNAME`, so `CLIENT LIST` says who is who. */
  readonly connectionName: string;
  /** How long one command may wait before it fails (then the caller's failure handling decides). */
  readonly commandTimeoutMs: number;
  /** How long a (re)connect may take before it is abandoned and retried. Default 1,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Ceiling of the reconnect back-off, so a restarted Redis is used again promptly. Default 500 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Connection-level errors (refused, reset...), which ioredis reports as `error` events. */
  readonly onError?: (err: Error) => void;
}

/**
 * The one Redis client factory. Every store here fails instead of waiting: no offline queue (a
 * command while disconnected fails at once), a command timeout, and no retry or resend of a
 * command, because a script that may have run once (a bucket charge, a rating write) must never run
 * twice. The client keeps reconnecting in the background.
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const maxDelay = options.reconnectMaxDelayMs ?? 500;
  const client = new Redis(options.url.href, {
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(times * 50, maxDelay),
    connectionName: options.connectionName,
  });
  // Without a listener ioredis prints every reconnect failure; with one, an outage is just a state.
  client.on('error', (err: Error) => options.onError?.(err));
  return client;
}

/** Quits politely when connected, and stops reconnecting in any case. */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // A Redis that cannot take QUIT is dropped below like one that is down.
    }
  }
  client.disconnect();
}
