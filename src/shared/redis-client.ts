import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { ConfigError } from './errors.js';
import { spiffeIdentityCheck } from './tls/spiffe-identity-check.js';
import { TLS_PROFILE } from './tls/tls-profile.js';
import type { TlsMaterial, WorkloadTls } from './tls/workload-tls.js';

/** Where Redis is, and who it must be. */
export interface RedisServer {
  /** REDIS_URL: `rediss://host:port`, nothing else (see the `redisUrl` setting schema). */
  readonly url: URL;
  /** Redis's SPIFFE ID, from the topology (the `redis` workload): the only server identity accepted. */
  readonly spiffeId: string;
}

/** How a store's Redis client behaves; every field has a fail-fast default. */
export interface RedisClientOptions {
  readonly server: RedisServer;
  /**
   * Who connects: the workload's certificate, key and trust bundle, and its ACL user (the workload's
   * name) with the password of the same version. Followed through rotations: new connections use
   * the newest certificate and password, open ones carry on.
   */
  readonly identity: WorkloadTls;
  /** `CLIENT SETNAME`, so `CLIENT LIST` says who is who. */
  readonly connectionName: string;
  /** How long one command may wait before it fails (then the caller's failure handling decides). */
  readonly commandTimeoutMs: number;
  /** How long a (re)connect may take before it is abandoned and retried. Default 1,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Ceiling of the reconnect back-off, so a restarted Redis is used again promptly. Default 500 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Connection-level errors (refused, reset, a refused certificate...), which ioredis reports as `error` events. */
  readonly onError?: (err: Error) => void;
}

/**
 * The TLS options of a connection to Redis: the workload's own certificate and key, the trust
 * bundle, the project's TLS profile, and Redis's SPIFFE ID checked on top of the chain. SNI is the
 * URL's host name (none for an address).
 */
export function redisTlsOptions(material: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>, server: RedisServer): ConnectionOptions {
  const host = server.url.hostname.replace(/^\[|\]$/g, '');
  return {
    ...TLS_PROFILE,
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    rejectUnauthorized: true,
    checkServerIdentity: spiffeIdentityCheck(server.spiffeId),
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}

/** The workload's Redis password; a ConfigError naming the workload when it is not a Redis user. */
export function redisPasswordOf(identity: WorkloadTls, material: TlsMaterial = identity.material): string {
  if (material.redisPassword === undefined) {
    throw new ConfigError('redis_no_password', `REDIS_URL is set, but workload "${identity.workload}" has no Redis password beside its key in ${identity.layout.current(identity.workload)} (only Redis's ACL users get one: authz, rating-api, cert-rotator, redis)`);
  }
  return material.redisPassword;
}

/**
 * The one Redis client factory. The connection is mutual TLS to a Redis whose SPIFFE ID is checked,
 * signed in as the workload's own ACL user. Every store here fails instead of waiting: no offline
 * queue (a command while disconnected fails at once), a command timeout, and no retry or resend of
 * a command, because a script that may have run once (a bucket charge, a rating write) must never
 * run twice. The client keeps reconnecting in the background. It sends only what its ACL user is
 * granted on connect: HELLO with AUTH, and CLIENT SETNAME (no INFO ready check, no CLIENT SETINFO).
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const maxDelay = options.reconnectMaxDelayMs ?? 500;
  const { identity, server } = options;
  const password = redisPasswordOf(identity);
  const client = new Redis({
    host: server.url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(server.url.port || 6379),
    tls: redisTlsOptions(identity.material, server),
    username: identity.workload,
    password,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    disableClientInfo: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(times * 50, maxDelay),
    connectionName: options.connectionName,
  });
  // ioredis reads its options at every (re)connect: the next connection presents the new
  // certificate and password, the open one is left alone.
  const onRotated = (m: TlsMaterial): void => {
    if (m.redisPassword === undefined) return;
    client.options.tls = redisTlsOptions(m, server);
    client.options.password = m.redisPassword;
  };
  identity.on('rotated', onRotated);
  client.once('end', () => identity.off('rotated', onRotated));
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
