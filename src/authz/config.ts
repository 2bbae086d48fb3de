import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { parseListen, type ListenAddress } from '../shared/listen.js';
import { readSettings } from '../shared/settings.js';
import { parseFailureMode } from './buckets/create-bucket-store.js';
import type { FailureMode } from './buckets/failover-store.js';

/** The settings rows this service reads (their defaults and meanings live in src/shared/settings.ts). */
export const AUTHZ_SETTINGS = [
  'ZT_PKI_DIR',
  'ZT_TRUST_DOMAIN',
  'ZT_WORKLOAD',
  'AUTHZ_LISTEN',
  'AUTHZ_ADMIN_LISTEN',
  'REDIS_URL',
  'RATE_LIMIT_FAILURE_MODE',
  'RATE_LIMIT_REDIS_TIMEOUT_MS',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWT_ALGORITHMS',
  'JWT_CLOCK_TOLERANCE_S',
  'JWT_CACHE_SIZE',
  'JWKS_FILE',
  'JWKS_URL',
  'POLICY_WASM',
  'POLICY_DATA',
  'LOG_LEVEL',
] as const;

/** How the service verifies bearer tokens. */
export interface JwtConfig {
  readonly issuer: string;
  readonly audience: string;
  /** The JWS algorithms accepted; never `none` or HS*. */
  readonly algorithms: readonly string[];
  readonly clockToleranceS: number;
  /** Verified-token cache entries; 0 disables the cache. */
  readonly cacheSize: number;
}

/** The policy service's configuration, validated once at start and frozen. */
export interface AuthzConfig {
  readonly pkiDir: string;
  readonly trustDomain: string;
  /** Whose `$ZT_PKI_DIR/<workload>/current` the listener presents. */
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  readonly redisUrl: string | undefined;
  readonly failureMode: FailureMode;
  readonly redisTimeoutMs: number;
  readonly jwt: JwtConfig;
  /** The JWKS file; used when `jwksUrl` is unset. */
  readonly jwksFile: string;
  readonly jwksUrl: string | undefined;
  readonly policyWasm: string;
  readonly policyData: string;
  readonly logLevel: string;
}

// Asymmetric JWS algorithms jose verifies. `none` and the HS* family are refused by name: with a
// public JWKS, an HMAC "key" is public knowledge.
const ASYMMETRIC_ALGORITHMS = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519']);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Reads and checks every setting of the policy service from `env` (default `process.env`). Any bad
 * value throws a {@link ConfigError} whose message starts with the setting's name. Relative paths
 * are resolved against the working directory once, here.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AuthzConfig {
  const s = readSettings(AUTHZ_SETTINGS, env);
  const pkiDir = resolve(required('ZT_PKI_DIR', s.ZT_PKI_DIR));
  const jwksUrl = optionalUrl('JWKS_URL', s.JWKS_URL, ['http:', 'https:']);
  const redisUrl = optionalUrl('REDIS_URL', s.REDIS_URL, ['redis:', 'rediss:']);
  const config: AuthzConfig = {
    pkiDir,
    trustDomain: match('ZT_TRUST_DOMAIN', s.ZT_TRUST_DOMAIN, /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'a DNS-like trust domain such as zt.local'),
    workload: match('ZT_WORKLOAD', s.ZT_WORKLOAD ?? 'authz', /^[a-z0-9][a-z0-9-]*$/, 'a workload directory name such as authz'),
    listen: parseListen('AUTHZ_LISTEN', required('AUTHZ_LISTEN', s.AUTHZ_LISTEN)),
    adminListen: parseListen('AUTHZ_ADMIN_LISTEN', required('AUTHZ_ADMIN_LISTEN', s.AUTHZ_ADMIN_LISTEN)),
    redisUrl,
    failureMode: parseFailureMode(s.RATE_LIMIT_FAILURE_MODE),
    redisTimeoutMs: integer('RATE_LIMIT_REDIS_TIMEOUT_MS', s.RATE_LIMIT_REDIS_TIMEOUT_MS, 1, 60_000),
    jwt: Object.freeze({
      issuer: required('JWT_ISSUER', s.JWT_ISSUER),
      audience: required('JWT_AUDIENCE', s.JWT_AUDIENCE),
      algorithms: Object.freeze(parseAlgorithms(s.JWT_ALGORITHMS)),
      clockToleranceS: integer('JWT_CLOCK_TOLERANCE_S', s.JWT_CLOCK_TOLERANCE_S, 0, 300),
      cacheSize: integer('JWT_CACHE_SIZE', s.JWT_CACHE_SIZE, 0, 10_000_000),
    }),
    jwksFile: absolute(required('JWKS_FILE', s.JWKS_FILE)),
    jwksUrl,
    policyWasm: absolute(required('POLICY_WASM', s.POLICY_WASM)),
    policyData: absolute(required('POLICY_DATA', s.POLICY_DATA)),
    logLevel: oneOf('LOG_LEVEL', s.LOG_LEVEL ?? 'info', LOG_LEVELS),
  };
  return Object.freeze(config);
}

/** Parses JWT_ALGORITHMS: a comma-separated allow-list of asymmetric JWS algorithms. */
export function parseAlgorithms(value: string | undefined): string[] {
  const algs = (value ?? 'ES256')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (algs.length === 0) throw new ConfigError('bad_setting', 'JWT_ALGORITHMS: name at least one algorithm, e.g. ES256');
  for (const alg of algs) {
    if (alg.toLowerCase() === 'none' || /^HS\d+$/i.test(alg)) {
      throw new ConfigError('bad_setting', `JWT_ALGORITHMS: "${alg}" is refused: unsigned and HMAC tokens are never accepted`);
    }
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new ConfigError('bad_setting', `JWT_ALGORITHMS: "${alg}" is not one of ${[...ASYMMETRIC_ALGORITHMS].join(', ')}`);
    }
  }
  return [...new Set(algs)];
}

function required(name: string, value: string | undefined): string {
  if (value === undefined) throw new ConfigError('bad_setting', `${name}: required`);
  return value;
}

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(path);
}

function match(name: string, value: string | undefined, re: RegExp, what: string): string {
  const v = required(name, value);
  if (!re.test(v)) throw new ConfigError('bad_setting', `${name}: "${v}" is not ${what}`);
  return v;
}

function integer(name: string, value: string | undefined, min: number, max: number): number {
  const parsed = z.coerce.number().int().min(min).max(max).safeParse(required(name, value));
  if (!parsed.success) throw new ConfigError('bad_setting', `${name}: "${value}" is not a whole number from ${min} to ${max}`);
  return parsed.data;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new ConfigError('bad_setting', `${name}: "${value}" is not one of ${allowed.join(', ')}`);
  return found;
}

function optionalUrl(name: string, value: string | undefined, protocols: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // The value is not echoed: a Redis URL may carry a password.
    throw new ConfigError('bad_setting', `${name}: not a URL`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError('bad_setting', `${name}: must use ${protocols.map((p) => p.replace(':', '')).join(' or ')}`);
  }
  return value;
}
