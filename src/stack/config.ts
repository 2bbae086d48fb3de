/**
 * The stack runner's one config module: the settings of the `stack` rows, read once and checked,
 * turned into {@link StackOptions}. The stack always listens on loopback, so of AUTHZ_LISTEN and
 * the like only the port is used.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { parseListen } from '../shared/listen.js';
import { readSettings } from '../shared/settings.js';
import type { StackOptions } from './stack.js';

const STACK_SETTINGS = [
  'ZT_PKI_DIR',
  'ZT_PKI_CONFIG',
  'AUTHZ_LISTEN',
  'AUTHZ_ADMIN_LISTEN',
  'RATING_LISTEN',
  'RATING_ADMIN_LISTEN',
  'REDIS_URL',
  'LOG_LEVEL',
  'ROTATE_INTERVAL_S',
] as const;

const seconds = z.coerce.number().int().min(0, 'whole seconds, 0 to turn rotation off');
const redisUrl = z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL');

/** Stack options from the environment; `--redis`, `--free-ports` and the like are laid over them. */
export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const s = readSettings(STACK_SETTINGS, env);
  const port = (name: (typeof STACK_SETTINGS)[number]): number => parseListen(name, s[name] ?? '').port;
  const rotate = seconds.safeParse(s.ROTATE_INTERVAL_S);
  if (!rotate.success) throw new ConfigError('bad_setting', `ROTATE_INTERVAL_S: "${s.ROTATE_INTERVAL_S ?? ''}" is not valid: ${rotate.error.issues[0]?.message ?? 'invalid'}`);
  let redis: StackOptions['redis'];
  if (s.REDIS_URL !== undefined) {
    const url = redisUrl.safeParse(s.REDIS_URL);
    if (!url.success) throw new ConfigError('bad_setting', `REDIS_URL: "${s.REDIS_URL}" is not a redis:// URL`);
    redis = { url: url.data };
  }
  const trustDomain = env.ZT_TRUST_DOMAIN?.trim() || undefined;
  return Object.freeze({
    ...(s.ZT_PKI_DIR === undefined ? {} : { pkiDir: s.ZT_PKI_DIR }),
    ...(s.ZT_PKI_CONFIG === undefined ? {} : { pkiConfig: s.ZT_PKI_CONFIG }),
    ...(trustDomain === undefined ? {} : { trustDomain }),
    ...(s.LOG_LEVEL === undefined ? {} : { logLevel: s.LOG_LEVEL }),
    ...(redis === undefined ? {} : { redis }),
    ports: { authz: port('AUTHZ_LISTEN'), authzAdmin: port('AUTHZ_ADMIN_LISTEN'), rating: port('RATING_LISTEN'), ratingAdmin: port('RATING_ADMIN_LISTEN') },
    rotateIntervalMs: rotate.data * 1000,
  });
}
