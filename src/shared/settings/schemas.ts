/**
 * The value shapes settings share. Each takes the setting's text (undefined when unset) and either
 * returns the value or fails with a reason that reads well after the variable's name, e.g.
 * `ZT_TRUST_DOMAIN: not a DNS-like trust domain such as zt.local`.
 */
import { isAbsolute, resolve } from 'node:path';
import ms from 'ms';
import { z } from 'zod';

/** What `host:port` settings become. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** A SPIFFE trust domain: lower-case DNS-like labels, the shape every SPIFFE ID here starts with. */
export const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** A workload's directory name under ZT_PKI_DIR. */
export const WORKLOAD_NAME = /^[a-z0-9][a-z0-9-]*$/;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const present = z.string({ error: 'required' });

/** Text that must be set. */
export const requiredText = present.min(1, 'required');

export const trustDomain = present.regex(TRUST_DOMAIN, 'not a DNS-like trust domain such as zt.local');

export const workloadName = present.regex(WORKLOAD_NAME, 'not a workload directory name such as authz');

export const logLevel = z.enum(LOG_LEVELS, { error: `not one of ${LOG_LEVELS.join(', ')}` });

/** A path, resolved against the working directory once, here. */
export const path = present.min(1, 'required').transform((p) => (isAbsolute(p) ? p : resolve(p)));

/** `host:port` or `[v6]:port`; port 0 picks a free port. */
export const listenAddress = present.transform((value, ctx): ListenAddress => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'not host:port such as 127.0.0.1:9443' });
    return z.NEVER;
  }
  return { host: m[1] ?? m[2] ?? '', port };
});

/** A whole number within bounds. */
export function wholeNumber(min: number, max: number): z.ZodType<number, string | undefined> {
  const reason = `not a whole number from ${min} to ${max}`;
  return present.regex(/^-?\d+$/, reason).transform(Number).pipe(z.number().int(reason).min(min, reason).max(max, reason));
}

/** One of fixed words. */
export function oneOf<const T extends readonly [string, ...string[]]>(words: T): z.ZodType<T[number], string | undefined> {
  return z.enum(words, { error: `not one of ${words.join(', ')}` });
}

/** Parses `24h`, `5m`, `90d`, `10y` into milliseconds; undefined when it is not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const value = ms(text as ms.StringValue);
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** A duration such as `15m` or `1h` (see {@link parseDuration}), in milliseconds, at least `minMs`. */
export function duration(minMs: number): z.ZodType<number, string | undefined> {
  return present.transform((text, ctx) => {
    const value = parseDuration(text);
    if (value === undefined || value < minMs) {
      ctx.addIssue({ code: 'custom', message: `a duration of at least ${minMs / 1000}s, such as 15m or 1h` });
      return z.NEVER;
    }
    return value;
  });
}

/**
 * An absolute URL of one of `protocols` (e.g. `['https:']`), with a host. The reason never quotes
 * the URL: a Redis URL can carry a password.
 */
export function url(protocols: readonly string[]): z.ZodType<URL, string | undefined> {
  const names = protocols.map((p) => `${p.replace(/:$/, '')}://`).join(' or ');
  return present.transform((text, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a URL (expected ${names}...)` });
      return z.NEVER;
    }
    if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
      ctx.addIssue({ code: 'custom', message: `not a ${names} URL with a host` });
      return z.NEVER;
    }
    return parsed;
  });
}

/**
 * REDIS_URL: `rediss://host:port` and nothing more. Redis speaks only TLS here, so `redis://` is
 * refused by name; a user or password is refused too (each service signs in as its own ACL user with
 * the password beside its key, never one carried in a setting), and so is a database, path or query.
 * The reason never quotes the URL.
 */
export const redisUrl = present.transform((text, ctx): URL => {
  const refuse = (message: string): never => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return refuse('not a URL (expected rediss://host:port)');
  }
  if (parsed.protocol === 'redis:') return refuse('plaintext redis:// is refused: Redis speaks only TLS here (use rediss://host:port)');
  if (parsed.protocol !== 'rediss:' || parsed.hostname === '') return refuse('not a rediss://host:port URL');
  if (parsed.username !== '' || parsed.password !== '') {
    return refuse('must not carry a user or password: each service signs in as its own ACL user with the password beside its key');
  }
  if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search !== '' || parsed.hash !== '') {
    return refuse('takes only rediss://host:port (no database, path or query)');
  }
  return parsed;
});
