import { LOG_LEVEL, PKI_CONFIG, PKI_DIR, REDIS_URL, TRUST_DOMAIN, WORKLOAD } from '../shared/settings/common-settings.js';
import { listenAddress, type ListenAddress, type LogLevel } from '../shared/settings/schemas.js';
import { readSettings, setting } from '../shared/settings/setting.js';
import { REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { loadTopology, portsOf, workloadNamed } from '../shared/topology.js';

/** The workload whose certificate the rating API presents when ZT_WORKLOAD is unset. */
const DEFAULT_WORKLOAD = 'rating-api';

/** The settings the rating API reads, by config field; the README's table is rendered from them. */
export const RATING_SETTINGS = {
  pkiDir: PKI_DIR,
  pkiConfig: PKI_CONFIG,
  trustDomain: TRUST_DOMAIN,
  workload: WORKLOAD,
  listen: setting('RATING_LISTEN', {
    meaning: 'The rating API mTLS listener (host:port); default 127.0.0.1:{rating-api.listen}.',
    schema: listenAddress.optional(),
  }),
  adminListen: setting('RATING_ADMIN_LISTEN', {
    meaning: 'Plain-HTTP admin listener of the rating API: /healthz, /readyz; default 127.0.0.1:{rating-api.admin}.',
    schema: listenAddress.optional(),
  }),
  redisUrl: REDIS_URL,
  logLevel: LOG_LEVEL,
} as const;

/** The rating API's configuration: validated, frozen data, with nothing opened yet. */
export interface RatingConfig {
  readonly pkiDir: string;
  /** Peers must hold an edge SPIFFE ID of this trust domain (ZT_TRUST_DOMAIN, else the topology's). */
  readonly trustDomain: string;
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** REDIS_URL and Redis's SPIFFE ID; unset means the memory store. */
  readonly redis: RedisServer | undefined;
  readonly logLevel: LogLevel;
}

/**
 * Reads the settings once. A bad value throws a ConfigError naming the setting (REDIS_URL's value is
 * never shown: it may hold a password). The trust domain and the default listen addresses (the
 * `rating-api` ports, on loopback) come from the topology, ZT_PKI_CONFIG.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RatingConfig {
  const { pkiConfig, trustDomain, workload, listen, adminListen, redisUrl, ...settings } = readSettings(RATING_SETTINGS, env);
  const topology = loadTopology(pkiConfig, trustDomain);
  const ports = portsOf(workloadNamed(topology, DEFAULT_WORKLOAD), pkiConfig);
  return Object.freeze({
    ...settings,
    redis: redisUrl === undefined ? undefined : Object.freeze({ url: redisUrl, spiffeId: workloadNamed(topology, REDIS_SERVER_WORKLOAD).spiffeId }),
    trustDomain: topology.trustDomain,
    workload: workload ?? DEFAULT_WORKLOAD,
    listen: listen ?? { host: '127.0.0.1', port: ports.listen },
    adminListen: adminListen ?? { host: '127.0.0.1', port: ports.admin },
  });
}
