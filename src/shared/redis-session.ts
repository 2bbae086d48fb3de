import type { TLSSocket } from 'node:tls';
import { Redis } from 'ioredis';
import { redisTlsOptions, type RedisServer } from './redis-client.js';
import type { TlsMaterial } from './tls/workload-tls.js';

/** One fresh connection to Redis: the client, and the serial of the certificate Redis served in its handshake. */
export interface RedisSession {
  readonly client: Redis;
  /** Lower-case hex without leading zeros, as openssl prints it (and CertInfo holds it). */
  readonly servedSerial: string;
}

/** Who signs in: an ACL user and its password. */
export interface RedisLogin {
  readonly user: string;
  readonly password: string;
}

/**
 * Opens one new connection to Redis (a new TLS handshake: never a pooled one), presenting
 * `material`'s certificate, checking Redis's SPIFFE ID and signing in as `login`; runs `use` on it
 * and closes it. Rejects with the reason the connection failed (a refused certificate, WRONGPASS,
 * a timeout...), never retrying. For checks and one-off admin commands: the rotator's reload and
 * its checks, and readiness probes. Services use {@link createRedisClient}.
 */
export async function withRedisSession<T>(
  server: RedisServer,
  material: Pick<TlsMaterial, 'cert' | 'key' | 'ca'>,
  login: RedisLogin,
  use: (session: RedisSession) => Promise<T>,
  timeoutMs = 3000,
): Promise<T> {
  const client = new Redis({
    host: server.url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(server.url.port || 6379),
    tls: redisTlsOptions(material, server),
    username: login.user,
    password: login.password,
    lazyConnect: true,
    enableReadyCheck: false,
    disableClientInfo: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  let failure: Error | undefined;
  client.on('error', (err: Error) => {
    failure ??= err;
  });
  try {
    try {
      await client.connect();
    } catch (err) {
      throw failure ?? err;
    }
    const cert = (client.stream as TLSSocket).getPeerCertificate();
    const servedSerial = cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
    return await use({ client, servedSerial });
  } finally {
    client.disconnect();
  }
}
