import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import ms from 'ms';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../shared/errors.js';
import type { WorkloadKind } from './x509.js';

/** The shortest leaf lifetime accepted: anything shorter cannot be renewed reliably by cron. */
export const MIN_LEAF_TTL_MS = 5 * 60_000;

/** One workload as issued: its SPIFFE ID, SANs and lifetime. */
export interface Workload {
  readonly name: string;
  readonly spiffeId: string;
  readonly region: string;
  readonly kind: WorkloadKind;
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly ttlMs: number;
}

/** The whole PKI declaration, validated. */
export interface PkiSpec {
  readonly file: string;
  readonly trustDomain: string;
  readonly root: { readonly commonName: string; readonly ttlMs: number; readonly keyBits: number };
  readonly intermediate: { readonly commonName: string; readonly ttlMs: number; readonly keyBits: number };
  readonly permittedDns: readonly string[];
  readonly permittedIp: readonly string[];
  readonly jwt: { readonly rotateEveryMs: number; readonly maxTokenTtlMs: number };
  readonly workloads: ReadonlyMap<string, Workload>;
}

const duration = z.string().refine((v) => parseDuration(v) !== undefined, {
  message: 'not a duration (use e.g. 10y, 90d, 24h, 5m)',
});
const keyBits = z.number().int().refine((n) => n === 3072 || n === 4096, { message: 'must be 3072 or 4096' });
const dnsName = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'not a DNS name');
const ipAddress = z.string().refine((v) => isIP(v) !== 0, { message: 'not an IP address' });
const cidr = z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'not a CIDR such as 127.0.0.0/8');

const fileSchema = z.strictObject({
  trust_domain: dnsName,
  ca: z.strictObject({
    root: z.strictObject({ common_name: z.string().min(1), ttl: duration, key_bits: keyBits }),
    intermediate: z.strictObject({ common_name: z.string().min(1), ttl: duration, key_bits: keyBits }),
    permitted_dns: z.array(dnsName),
    permitted_ip: z.array(cidr).default([]),
  }),
  jwt: z.strictObject({ rotate_every: duration, max_token_ttl: duration }),
  defaults: z.strictObject({ ttl: duration }).default({ ttl: '24h' }),
  workloads: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'workload names are lower-case kebab-case'),
    z.strictObject({
      path: z.string().regex(/^\/[a-z0-9-]+\/(edge|svc|client)\/[a-z0-9-]+$/, 'must be /<region>/<edge|svc|client>/<name>'),
      dns: z.array(dnsName).default([]),
      ip: z.array(ipAddress).default([]),
      ttl: duration.optional(),
    }),
  ),
});

/** Parses `24h`, `5m`, `90d`, `10y` into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const value = ms(text as ms.StringValue);
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Loads and validates `pki/workloads.yaml`. Every problem is a ConfigError whose message names the
 * file and the offending key, so an operator can fix it without reading code.
 */
export function loadPkiSpec(file: string, trustDomainOverride?: string): PkiSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('pki_config_unreadable', `cannot read PKI config ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError('pki_config_invalid', `${file} is not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`);
  }
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new ConfigError('pki_config_invalid', `${file}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const raw = parsed.data;
  const trustDomain = trustDomainOverride ?? raw.trust_domain;
  const ttl = (key: string, value: string): number => {
    const v = parseDuration(value);
    if (v === undefined) throw new ConfigError('pki_config_invalid', `${file}: ${key}: not a duration`);
    return v;
  };

  const workloads = new Map<string, Workload>();
  for (const [name, w] of Object.entries(raw.workloads)) {
    const ttlText = w.ttl ?? raw.defaults.ttl;
    const ttlKey = w.ttl === undefined ? 'defaults.ttl' : `workloads.${name}.ttl`;
    const ttlMs = ttl(ttlKey, ttlText);
    if (ttlMs < MIN_LEAF_TTL_MS) {
      throw new ConfigError('pki_ttl_too_short', `${file}: ${ttlKey} is ${ttlText}; a leaf TTL must be at least 5m`);
    }
    for (const d of w.dns) {
      if (!raw.ca.permitted_dns.includes(d)) {
        throw new ConfigError('pki_config_invalid', `${file}: workloads.${name}.dns: ${d} is not in ca.permitted_dns, so the intermediate's name constraints would reject it`);
      }
    }
    const [, region = '', kind = 'client'] = w.path.split('/');
    workloads.set(name, {
      name,
      spiffeId: `spiffe://${trustDomain}${w.path}`,
      region,
      kind: kind as WorkloadKind,
      dns: w.dns,
      ip: w.ip,
      ttlMs,
    });
  }

  return Object.freeze({
    file,
    trustDomain,
    root: { commonName: raw.ca.root.common_name, ttlMs: ttl('ca.root.ttl', raw.ca.root.ttl), keyBits: raw.ca.root.key_bits },
    intermediate: {
      commonName: raw.ca.intermediate.common_name,
      ttlMs: ttl('ca.intermediate.ttl', raw.ca.intermediate.ttl),
      keyBits: raw.ca.intermediate.key_bits,
    },
    permittedDns: raw.ca.permitted_dns,
    permittedIp: raw.ca.permitted_ip,
    jwt: { rotateEveryMs: ttl('jwt.rotate_every', raw.jwt.rotate_every), maxTokenTtlMs: ttl('jwt.max_token_ttl', raw.jwt.max_token_ttl) },
    workloads,
  });
}

/** Looks a workload up by name, with an error that lists the known ones. */
export function workloadNamed(spec: PkiSpec, name: string): Workload {
  const w = spec.workloads.get(name);
  if (!w) {
    throw new ConfigError('pki_unknown_workload', `unknown workload "${name}" (not in ${spec.file}; known: ${[...spec.workloads.keys()].join(', ')})`);
  }
  return w;
}
