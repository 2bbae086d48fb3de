/**
 * The one redis-server launcher: the TLS-only, ACL-only configuration the embedded stack, the tests
 * and the benches run, and compose's `redis` command (a test holds compose's arguments equal to
 * what {@link redisServerArgs} builds for compose's paths).
 *
 * - No plaintext port (`port 0`); TLS on `tls-port`, TLS 1.2 and 1.3 only, with the project's cipher
 *   lists (src/shared/tls/tls-profile.ts); a client certificate from the internal CA is required.
 * - Its own certificate is `<pki>/redis/current/{cert,key,ca}.pem`; the rotator makes it load a new
 *   one with `CONFIG SET tls-*` (src/pki/redis-sync.ts): Redis 7 never reloads TLS files by itself.
 * - Users come from the ACL file the PKI generates (src/pki/redis-acl.ts): `default` is off, each
 *   service has its own user.
 */
import { join } from 'node:path';
import { readWorkloadMaterial } from '../shared/pki/workload-material.js';
import { PkiLayout, REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { withRedisSession } from '../shared/redis-session.js';
import { TLS12_CIPHERS, TLS13_CIPHERS } from '../shared/tls/tls-profile.js';

export interface RedisServerConfig {
  /** ZT_PKI_DIR as redis-server sees it: its certificate is `<pkiDir>/redis/current/`. */
  readonly pkiDir: string;
  /** The TLS port. */
  readonly port: number;
  readonly bind: readonly string[];
  /** Its working directory (AOF, and nothing else: no RDB snapshots). */
  readonly dataDir: string;
  readonly appendOnly: boolean;
  /** Default `<pkiDir>/redis/users.acl`, the file the PKI writes. */
  readonly aclFile?: string;
}

/** redis-server's command-line arguments for `config`. */
export function redisServerArgs(config: RedisServerConfig): string[] {
  const tlsDir = join(config.pkiDir, REDIS_SERVER_WORKLOAD, 'current');
  return [
    '--port', '0',
    '--tls-port', String(config.port),
    '--bind', ...config.bind,
    '--tls-cert-file', join(tlsDir, 'cert.pem'),
    '--tls-key-file', join(tlsDir, 'key.pem'),
    '--tls-ca-cert-file', join(tlsDir, 'ca.pem'),
    '--tls-auth-clients', 'yes',
    '--tls-protocols', 'TLSv1.2 TLSv1.3',
    '--tls-ciphers', TLS12_CIPHERS.join(':'),
    '--tls-ciphersuites', TLS13_CIPHERS.join(':'),
    '--tls-prefer-server-ciphers', 'yes',
    '--aclfile', config.aclFile ?? join(config.pkiDir, REDIS_SERVER_WORKLOAD, 'users.acl'),
    '--dir', config.dataDir,
    '--save', '',
    ...(config.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
  ];
}

/**
 * A readiness probe: a new mTLS connection signed in as the `redis` user (its health user: PING
 * only), with Redis's own current certificate and password, answers PING with PONG. The same
 * check compose's health check makes with redis-cli.
 */
export function redisReady(pkiDir: string, server: RedisServer): () => Promise<boolean> {
  const layout = new PkiLayout(pkiDir);
  return async () => {
    const m = await readWorkloadMaterial(layout, REDIS_SERVER_WORKLOAD);
    if (m.redisPassword === undefined) return false;
    const login = { user: REDIS_SERVER_WORKLOAD, password: m.redisPassword };
    return withRedisSession(server, { cert: m.certPem, key: m.keyPem, ca: m.caPem }, login, async ({ client }) => (await client.ping()) === 'PONG', 1000);
  };
}
