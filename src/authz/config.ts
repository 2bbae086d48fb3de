import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import {
  JWT_AUDIENCE,
  JWT_ISSUER,
  LOG_LEVEL,
  PKI_CONFIG,
  PKI_DIR,
  POLICY_DATA,
  POLICY_WASM,
  REDIS_URL,
  TRUST_DOMAIN,
  WORKLOAD,
} from '../shared/settings/common-settings.js';
import { duration, listenAddress, oneOf, path, url, wholeNumber, type ListenAddress, type LogLevel } from '../shared/settings/schemas.js';
import { readSettings, setting } from '../shared/settings/setting.js';
import { REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { loadTopology, portsOf, workloadNamed, type WorkloadPorts } from '../shared/topology.js';
import { FAILURE_MODES, type FailureMode } from './buckets/failover-store.js';

/** The workload whose certificate the service presents when ZT_WORKLOAD is unset, and whose ports it defaults to. */
const WORKLOAD_NAME = 'authz';
/** The workload that may re-check a rating stream's token (src/authz/stream-recheck.ts). */
const STREAM_RECHECK_WORKLOAD = 'rating-api';
const LOOPBACK = '127.0.0.1';

// Asymmetric JWS algorithms jose verifies. `none` and the HS* family are refused by name: with a
// public JWKS, an HMAC "key" is public knowledge.
const ASYMMETRIC_ALGORITHMS = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519']);

/** JWT_ALGORITHMS: a comma-separated allow-list of asymmetric JWS algorithms, without duplicates. */
const algorithms = z.string({ error: 'required' }).transform((text, ctx): readonly string[] => {
  const algs = text
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const refuse = (message: string): never => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (algs.length === 0) return refuse('name at least one algorithm, e.g. ES256');
  for (const alg of algs) {
    if (alg.toLowerCase() === 'none' || /^HS\d+$/i.test(alg)) return refuse(`"${alg}" is refused: unsigned and HMAC tokens are never accepted`);
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) return refuse(`"${alg}" is not one of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`);
  }
  return Object.freeze([...new Set(algs)]);
});

const AUTHZ_LISTEN = setting('AUTHZ_LISTEN', {
  meaning: 'The policy service mTLS listener (host:port); default 127.0.0.1:{authz.listen}.',
  schema: listenAddress.optional(),
});

const AUTHZ_ADMIN_LISTEN = setting('AUTHZ_ADMIN_LISTEN', {
  meaning: 'Plain-HTTP admin listener: /healthz, /readyz, /metrics; default 127.0.0.1:{authz.admin}.',
  schema: listenAddress.optional(),
});

const RATE_LIMIT_FAILURE_MODE = setting('RATE_LIMIT_FAILURE_MODE', {
  default: 'local',
  meaning: 'When Redis fails: `local` (in-process buckets), `open` (allow) or `closed` (503).',
  schema: oneOf(FAILURE_MODES),
});

const RATE_LIMIT_REDIS_TIMEOUT_MS = setting('RATE_LIMIT_REDIS_TIMEOUT_MS', {
  default: '50',
  meaning: 'Redis command timeout for token buckets; past it the failure mode decides.',
  schema: wholeNumber(1, 60_000),
});

const JWT_ALGORITHMS = setting('JWT_ALGORITHMS', {
  default: 'ES256',
  meaning: 'Comma-separated allow-list of JWS algorithms; `none` and HS* are refused.',
  schema: algorithms,
});

const JWT_CLOCK_TOLERANCE_S = setting('JWT_CLOCK_TOLERANCE_S', {
  default: '5',
  meaning: 'Clock skew tolerated on `exp` and `nbf`, in seconds.',
  schema: wholeNumber(0, 300),
});

const JWT_MAX_TTL = setting('JWT_MAX_TTL', {
  meaning:
    'The longest token lifetime accepted, both `exp - iat` and `exp - now` (e.g. `15m`, `1h`); default `jwt.max_token_ttl` of ZT_PKI_CONFIG ({jwt.max_token_ttl}), the longest token the issuer mints and the time a retired signing key stays published.',
  schema: duration(1000).optional(),
});

const JWT_CACHE_SIZE = setting('JWT_CACHE_SIZE', {
  default: '10000',
  meaning: 'Verified-token cache entries (0 disables the cache).',
  schema: wholeNumber(0, 10_000_000),
});

const JWKS_FILE = setting('JWKS_FILE', {
  default: '$ZT_PKI_DIR/jwks/jwks.json',
  meaning: 'JWKS file, re-read when it changes; published in a directory of its own, away from the signing keys in `jwt/`.',
  schema: path,
});

const JWKS_URL = setting('JWKS_URL', {
  meaning: 'Remote JWKS (createRemoteJWKSet); takes precedence over JWKS_FILE.',
  schema: url(['http:', 'https:']).optional(),
  // A JWKS URL may carry credentials or a token in its query; never echo it.
  secret: true,
});

/** Every setting the policy service reads, by the config field it fills (the README table's rows). */
export const AUTHZ_SETTINGS = Object.freeze({
  pkiDir: PKI_DIR,
  pkiConfig: PKI_CONFIG,
  trustDomain: TRUST_DOMAIN,
  workload: WORKLOAD,
  listen: AUTHZ_LISTEN,
  adminListen: AUTHZ_ADMIN_LISTEN,
  redisUrl: REDIS_URL,
  failureMode: RATE_LIMIT_FAILURE_MODE,
  redisTimeoutMs: RATE_LIMIT_REDIS_TIMEOUT_MS,
  issuer: JWT_ISSUER,
  audience: JWT_AUDIENCE,
  algorithms: JWT_ALGORITHMS,
  clockToleranceS: JWT_CLOCK_TOLERANCE_S,
  maxTtl: JWT_MAX_TTL,
  cacheSize: JWT_CACHE_SIZE,
  jwksFile: JWKS_FILE,
  jwksUrl: JWKS_URL,
  policyWasm: POLICY_WASM,
  policyData: POLICY_DATA,
  logLevel: LOG_LEVEL,
});

/** How the service verifies bearer tokens. */
export interface JwtConfig {
  readonly issuer: string;
  readonly audience: string;
  /** The JWS algorithms accepted; never `none` or HS*. */
  readonly algorithms: readonly string[];
  readonly clockToleranceS: number;
  /** The longest lifetime a token may claim (`exp - iat`) or have left (`exp - now`), in seconds. */
  readonly maxTtlS: number;
  /** Verified-token cache entries; 0 disables the cache. */
  readonly cacheSize: number;
}

/** The policy service's configuration: plain data, validated once at start and frozen. */
export interface AuthzConfig {
  readonly pkiDir: string;
  readonly trustDomain: string;
  /** Whose `$ZT_PKI_DIR/<workload>/current` the listener presents. */
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** REDIS_URL and Redis's SPIFFE ID; unset means the memory bucket store. */
  readonly redis: RedisServer | undefined;
  readonly failureMode: FailureMode;
  readonly redisTimeoutMs: number;
  readonly jwt: JwtConfig;
  /** The JWKS file; used when `jwksUrl` is unset. */
  readonly jwksFile: string;
  readonly jwksUrl: URL | undefined;
  readonly policyWasm: string;
  readonly policyData: string;
  /** The rating API's SPIFFE ID (from the topology), which may re-check a stream's token; undefined when the topology has no rating API. */
  readonly streamRecheckPeer: string | undefined;
  readonly logLevel: LogLevel;
}

/**
 * Reads and checks every setting of the policy service from `env` once. A bad value throws a
 * {@link ConfigError} whose message starts with the setting's name and never shows a secret. The
 * trust domain (unless ZT_TRUST_DOMAIN overrides it) and the default listen addresses (the `authz`
 * workload's ports) come from the topology, ZT_PKI_CONFIG.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AuthzConfig {
  const s = readSettings(AUTHZ_SETTINGS, env);
  const topology = namedAsPkiConfig(() => loadTopology(s.pkiConfig, s.trustDomain));
  // Read only when needed: with both addresses set, the topology need not declare the ports.
  const byDefault = (port: keyof WorkloadPorts): ListenAddress => ({
    host: LOOPBACK,
    port: namedAsPkiConfig(() => portsOf(workloadNamed(topology, WORKLOAD_NAME), s.pkiConfig)[port]),
  });
  return Object.freeze({
    pkiDir: s.pkiDir,
    trustDomain: topology.trustDomain,
    workload: s.workload ?? WORKLOAD_NAME,
    listen: Object.freeze(s.listen ?? byDefault('listen')),
    adminListen: Object.freeze(s.adminListen ?? byDefault('admin')),
    redis: s.redisUrl === undefined ? undefined : Object.freeze({ url: s.redisUrl, spiffeId: namedAsPkiConfig(() => workloadNamed(topology, REDIS_SERVER_WORKLOAD).spiffeId) }),
    failureMode: s.failureMode,
    redisTimeoutMs: s.redisTimeoutMs,
    jwt: Object.freeze({
      issuer: s.issuer,
      audience: s.audience,
      algorithms: s.algorithms,
      clockToleranceS: s.clockToleranceS,
      // The issuer's own limit, unless narrowed: a token it mints never outlives its key.
      maxTtlS: Math.floor((s.maxTtl ?? topology.jwt.maxTokenTtlMs) / 1000),
      cacheSize: s.cacheSize,
    }),
    jwksFile: s.jwksFile,
    jwksUrl: s.jwksUrl,
    policyWasm: s.policyWasm,
    policyData: s.policyData,
    streamRecheckPeer: topology.workloads.get(STREAM_RECHECK_WORKLOAD)?.spiffeId,
    logLevel: s.logLevel,
  });
}

/** Runs `read`, naming any ConfigError it throws as a problem of ZT_PKI_CONFIG. */
function namedAsPkiConfig<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.code, `${PKI_CONFIG.name}: ${err.message}`, { cause: err });
    throw err;
  }
}
