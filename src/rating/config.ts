import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { parseListen, type ListenAddress } from '../shared/listen.js';
import { readSettings } from '../shared/settings.js';
import { WorkloadTls } from '../shared/workload-tls.js';

/** The rows of the settings table this process reads (defaults and meanings live in the table). */
export const RATING_SETTINGS = ['ZT_PKI_DIR', 'ZT_TRUST_DOMAIN', 'ZT_WORKLOAD', 'RATING_LISTEN', 'RATING_ADMIN_LISTEN', 'REDIS_URL', 'LOG_LEVEL'] as const;

/** The workload whose certificate the rating API presents when ZT_WORKLOAD is unset. */
export const DEFAULT_WORKLOAD = 'rating-api';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The rating API's settings, validated. */
export interface RatingSettings {
  readonly pkiDir: string;
  readonly trustDomain: string;
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** Unset means the memory store. */
  readonly redisUrl: string | undefined;
  readonly logLevel: LogLevel;
}

/** The settings plus what was loaded from disk up front: the workload's certificate, key and CA bundle. */
export interface RatingConfig extends RatingSettings {
  readonly tls: WorkloadTls;
}

const trustDomainSchema = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
const workloadSchema = z.string().regex(/^[a-z0-9][a-z0-9-]*$/);
const logLevelSchema = z.enum(LOG_LEVELS);

/**
 * Reads and validates the settings once. A bad value throws a ConfigError that names the setting;
 * REDIS_URL's value is never echoed, since it may hold a password.
 */
export function parseRatingSettings(env: NodeJS.ProcessEnv = process.env): RatingSettings {
  const s = readSettings(RATING_SETTINGS, env);
  return Object.freeze({
    pkiDir: s.ZT_PKI_DIR ?? 'pki/out',
    trustDomain: check('ZT_TRUST_DOMAIN', trustDomainSchema, s.ZT_TRUST_DOMAIN, 'a DNS-like trust domain such as zt.local'),
    workload: check('ZT_WORKLOAD', workloadSchema, s.ZT_WORKLOAD ?? DEFAULT_WORKLOAD, 'a workload directory name such as rating-api'),
    listen: parseListen('RATING_LISTEN', s.RATING_LISTEN ?? ''),
    adminListen: parseListen('RATING_ADMIN_LISTEN', s.RATING_ADMIN_LISTEN ?? ''),
    redisUrl: s.REDIS_URL === undefined ? undefined : checkRedisUrl(s.REDIS_URL),
    logLevel: check('LOG_LEVEL', logLevelSchema, s.LOG_LEVEL ?? 'info', `one of ${LOG_LEVELS.join(', ')}`),
  });
}

/**
 * The whole configuration: the settings, and the workload's TLS material read now, so that a
 * missing or broken certificate stops the process at start (ConfigError naming the file) rather
 * than at the first handshake.
 */
export async function loadRatingConfig(env: NodeJS.ProcessEnv = process.env): Promise<RatingConfig> {
  const settings = parseRatingSettings(env);
  const tls = await WorkloadTls.load(settings.pkiDir, settings.workload);
  return Object.freeze({ ...settings, tls });
}

function check<T>(name: string, schema: z.ZodType<T>, value: string | undefined, expected: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ConfigError('bad_setting', `${name}: "${value ?? ''}" is not ${expected}`);
  return parsed.data;
}

function checkRedisUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new ConfigError('bad_setting', 'REDIS_URL: not a redis:// or rediss:// URL with a host (e.g. redis://127.0.0.1:6379)');
  }
  return value;
}
