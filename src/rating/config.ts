import { LOG_LEVEL, PKI_CONFIG, PKI_DIR, REDIS_URL, TRUST_DOMAIN, WORKLOAD } from '../shared/settings/common-settings.js';
import { listenAddress, url, wholeNumber, type ListenAddress, type LogLevel } from '../shared/settings/schemas.js';
import { readSettings, setting } from '../shared/settings/setting.js';
import { REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { loadTopology, portsOf, workloadNamed } from '../shared/topology.js';

/** The workload whose certificate the rating API presents when ZT_WORKLOAD is unset. */
const DEFAULT_WORKLOAD = 'rating-api';

/** The settings of the rating streams (`.../ratings/stream`). */
const STREAM_SETTINGS = {
  authzUrl: setting('RATING_AUTHZ_URL', {
    meaning: 'Where the rating API asks authz to decide on a fresh token a client sends over a stream (`refresh`); default https://127.0.0.1:{authz.listen}.',
    schema: url(['https:']).optional(),
  }),
  maxPerSubject: setting('RATING_STREAM_MAX_PER_SUBJECT', {
    default: '10',
    meaning: 'Open streams one subject may hold on one rating API instance; past it a handshake gets 429 `too_many_streams`.',
    schema: wholeNumber(1, 100_000),
  }),
  messageBurst: setting('RATING_STREAM_MSG_BURST', {
    default: '20',
    meaning: 'Messages a stream may send at once: its token bucket\'s capacity. Past it an `error` (`rate_limited`), then a 1008 close.',
    schema: wholeNumber(1, 100_000),
  }),
  messagesPerS: setting('RATING_STREAM_MSG_PER_S', {
    default: '10',
    meaning: 'The refill of a stream\'s message bucket, in messages per second.',
    schema: wholeNumber(1, 100_000),
  }),
  maxFrameBytes: setting('RATING_STREAM_MAX_FRAME_BYTES', {
    default: '16384',
    meaning: 'The largest frame a client may send (as the 16 KiB body limit of REST); a larger one closes the stream with 1009.',
    schema: wholeNumber(256, 16 * 1024 * 1024),
  }),
  sendBufferBytes: setting('RATING_STREAM_SEND_BUFFER_BYTES', {
    default: '262144',
    meaning: 'What may wait in the rating API for a stream whose client reads too slowly; past it the stream is closed with 1013.',
    schema: wholeNumber(1024, 64 * 1024 * 1024),
  }),
  expiryGraceMs: setting('RATING_STREAM_EXPIRY_GRACE_MS', {
    default: '5000',
    meaning: 'How long after its token\'s `exp` a stream that was not refreshed is closed with 4001 (as JWT_CLOCK_TOLERANCE_S, for skew and a refresh in flight).',
    schema: wholeNumber(0, 300_000),
  }),
  pingIntervalS: setting('RATING_STREAM_PING_S', {
    default: '25',
    meaning: 'How often the server pings each stream; a stream that missed the last pong is dropped. Below the edges\' 60 s stream idle timeout.',
    schema: wholeNumber(1, 3600),
  }),
} as const;

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
  ...STREAM_SETTINGS,
} as const;

/** How the rating streams behave (stream-server.ts, stream-session.ts). */
export interface StreamConfig {
  /** Where token refreshes are decided. */
  readonly authzUrl: URL;
  /** The identity authz must present (from the topology). */
  readonly authzSpiffeId: string;
  readonly maxPerSubject: number;
  readonly messageBurst: number;
  readonly messagesPerS: number;
  readonly maxFrameBytes: number;
  readonly sendBufferBytes: number;
  readonly expiryGraceMs: number;
  readonly pingIntervalMs: number;
}

/** The rating API's configuration: validated, frozen data, with nothing opened yet. */
export interface RatingConfig {
  readonly pkiDir: string;
  /** Peers must hold an edge SPIFFE ID of this trust domain (ZT_TRUST_DOMAIN, else the topology's). */
  readonly trustDomain: string;
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** REDIS_URL and Redis's SPIFFE ID; unset means the memory store and the in-process feed. */
  readonly redis: RedisServer | undefined;
  readonly logLevel: LogLevel;
  readonly stream: StreamConfig;
}

/**
 * Reads the settings once. A bad value throws a ConfigError naming the setting (REDIS_URL's value is
 * never shown: it may hold a password). The trust domain, the default listen addresses (the
 * `rating-api` ports, on loopback) and authz's identity and default address come from the
 * topology, ZT_PKI_CONFIG.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RatingConfig {
  const { pkiConfig, trustDomain, workload, listen, adminListen, redisUrl, logLevel, pkiDir, ...stream } = readSettings(RATING_SETTINGS, env);
  const topology = loadTopology(pkiConfig, trustDomain);
  const ports = portsOf(workloadNamed(topology, DEFAULT_WORKLOAD), pkiConfig);
  const authz = workloadNamed(topology, 'authz');
  const { pingIntervalS, authzUrl, ...limits } = stream;
  return Object.freeze({
    pkiDir,
    redis: redisUrl === undefined ? undefined : Object.freeze({ url: redisUrl, spiffeId: workloadNamed(topology, REDIS_SERVER_WORKLOAD).spiffeId }),
    logLevel,
    trustDomain: topology.trustDomain,
    workload: workload ?? DEFAULT_WORKLOAD,
    listen: listen ?? { host: '127.0.0.1', port: ports.listen },
    adminListen: adminListen ?? { host: '127.0.0.1', port: ports.admin },
    stream: Object.freeze({
      ...limits,
      authzUrl: authzUrl ?? new URL(`https://127.0.0.1:${portsOf(authz, pkiConfig).listen}`),
      authzSpiffeId: authz.spiffeId,
      pingIntervalMs: pingIntervalS * 1000,
    }),
  });
}
