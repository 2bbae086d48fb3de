/**
 * The topology, from its one source: pki/workloads.yaml (setting ZT_PKI_CONFIG). It names the trust
 * domain, the regions, every workload's SPIFFE ID, DNS SANs and ports, and what the PKI issues
 * (CA lifetimes, leaf TTLs, the JWT key schedule). The PKI issues from it; the services, the edge,
 * the stack, the benches and the tests read their identities and default ports from it.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, errorMessage } from './errors.js';
import { parseDuration, TRUST_DOMAIN, WORKLOAD_NAME } from './settings/schemas.js';

/** The shortest leaf lifetime accepted: anything shorter cannot be renewed reliably by cron. */
export const MIN_LEAF_TTL_MS = 5 * 60_000;

/** What a workload's certificate lets it do: edges and services serve and call; clients only call. */
export type WorkloadKind = 'edge' | 'svc' | 'client';

/** Where a service listens on a shared host (`npm start`, compose's published ports): its TLS port and its admin port. */
export interface WorkloadPorts {
  readonly listen: number;
  readonly admin: number;
}

/** What the declaration gives: a listener, and an admin listener for the workloads that have one (Redis has none). */
export interface DeclaredPorts {
  readonly listen: number;
  readonly admin: number | undefined;
}

/** One workload: its identity, its certificate's SANs and lifetime, and its ports. */
export interface Workload {
  readonly name: string;
  readonly spiffeId: string;
  readonly region: string;
  readonly kind: WorkloadKind;
  readonly dns: readonly string[];
  readonly ttlMs: number;
  /** Set for the workloads that listen (edges and services). */
  readonly ports: DeclaredPorts | undefined;
}

/** The whole declaration, validated. */
export interface Topology {
  readonly file: string;
  readonly trustDomain: string;
  readonly root: { readonly commonName: string; readonly ttlMs: number; readonly keyBits: number };
  readonly intermediate: { readonly commonName: string; readonly ttlMs: number; readonly keyBits: number };
  readonly permittedDns: readonly string[];
  readonly jwt: { readonly rotateEveryMs: number; readonly maxTokenTtlMs: number };
  readonly workloads: ReadonlyMap<string, Workload>;
}

const duration = z.string().refine((v) => parseDuration(v) !== undefined, { message: 'not a duration (use e.g. 10y, 90d, 24h, 5m)' });
const keyBits = z.number().int().refine((n) => n === 3072 || n === 4096, { message: 'must be 3072 or 4096' });
const dnsName = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'not a DNS name');
const port = z.number().int().min(1).max(65535);
// IP SANs and IP name constraints are refused by name rather than as unknown keys, with the reason:
// BoringSSL (Envoy) fails every leaf with an IP SAN under an IP-constrained intermediate
// ("unsupported name constraint type"), and the intermediate excludes all IP addresses.
const NO_IP = 'IP SANs are not issued: Envoy (BoringSSL) cannot check IP name constraints, so the intermediate excludes every IP address; connect by DNS name (e.g. localhost)';
const noIp = z.never({ error: NO_IP }).optional();

const fileSchema = z.strictObject({
  trust_domain: z.string().regex(TRUST_DOMAIN, 'not a DNS-like trust domain such as zt.local'),
  ca: z.strictObject({
    root: z.strictObject({ common_name: z.string().min(1), ttl: duration, key_bits: keyBits }),
    intermediate: z.strictObject({ common_name: z.string().min(1), ttl: duration, key_bits: keyBits }),
    permitted_dns: z.array(dnsName),
    permitted_ip: noIp,
  }),
  jwt: z.strictObject({ rotate_every: duration, max_token_ttl: duration }),
  defaults: z.strictObject({ ttl: duration }).default({ ttl: '24h' }),
  workloads: z.record(
    z.string().regex(WORKLOAD_NAME, 'workload names are lower-case kebab-case'),
    z.strictObject({
      path: z.string().regex(/^\/[a-z0-9-]+\/(edge|svc|client)\/[a-z0-9-]+$/, 'must be /<region>/<edge|svc|client>/<name>'),
      dns: z.array(dnsName).default([]),
      ip: noIp,
      ttl: duration.optional(),
      ports: z.strictObject({ listen: port, admin: port.optional() }).optional(),
    }),
  ),
});

/**
 * Loads and validates the declaration. Every problem is a ConfigError whose message names the
 * file and the offending key. `trustDomain` (ZT_TRUST_DOMAIN, already validated) overrides the
 * file's.
 */
export function loadTopology(file: string, trustDomain?: string): Topology {
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
    throw new ConfigError('pki_config_invalid', `${file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  const raw = parsed.data;
  const domain = trustDomain ?? raw.trust_domain;
  const ttl = (key: string, value: string): number => parseDuration(value) ?? invalid(file, key);

  const workloads = new Map<string, Workload>();
  const usedPorts = new Map<number, string>();
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
    for (const p of w.ports === undefined ? [] : [w.ports.listen, ...(w.ports.admin === undefined ? [] : [w.ports.admin])]) {
      const other = usedPorts.get(p);
      if (other !== undefined) throw new ConfigError('pki_config_invalid', `${file}: workloads.${name}.ports: ${p} is already ${other}'s`);
      usedPorts.set(p, name);
    }
    const [, region = '', kind = 'client'] = w.path.split('/');
    const ports = w.ports === undefined ? undefined : Object.freeze({ listen: w.ports.listen, admin: w.ports.admin });
    workloads.set(name, Object.freeze({ name, spiffeId: `spiffe://${domain}${w.path}`, region, kind: kind as WorkloadKind, dns: w.dns, ttlMs, ports }));
  }

  return Object.freeze({
    file,
    trustDomain: domain,
    root: { commonName: raw.ca.root.common_name, ttlMs: ttl('ca.root.ttl', raw.ca.root.ttl), keyBits: raw.ca.root.key_bits },
    intermediate: { commonName: raw.ca.intermediate.common_name, ttlMs: ttl('ca.intermediate.ttl', raw.ca.intermediate.ttl), keyBits: raw.ca.intermediate.key_bits },
    permittedDns: raw.ca.permitted_dns,
    jwt: { rotateEveryMs: ttl('jwt.rotate_every', raw.jwt.rotate_every), maxTokenTtlMs: ttl('jwt.max_token_ttl', raw.jwt.max_token_ttl) },
    workloads,
  });
}

/** Looks a workload up by name, with an error that lists the known ones. */
export function workloadNamed(topology: Topology, name: string): Workload {
  const w = topology.workloads.get(name);
  if (!w) {
    throw new ConfigError('pki_unknown_workload', `unknown workload "${name}" (not in ${topology.file}; known: ${[...topology.workloads.keys()].join(', ')})`);
  }
  return w;
}

/** The regions that have an edge, in declaration order. */
export function edgeRegions(topology: Topology): string[] {
  return [...topology.workloads.values()].filter((w) => w.kind === 'edge').map((w) => w.region);
}

/** The edge workload of a region; a ConfigError naming the known regions when there is none. */
export function edgeOf(topology: Topology, region: string): Workload {
  const edge = [...topology.workloads.values()].find((w) => w.kind === 'edge' && w.region === region);
  if (edge === undefined) {
    throw new ConfigError('bad_setting', `no edge for region "${region}" in ${topology.file} (regions: ${edgeRegions(topology).join(', ')})`);
  }
  return edge;
}

/** A service's listen and admin ports; a ConfigError when the declaration does not give both. */
export function portsOf(workload: Workload, file: string): WorkloadPorts {
  const listen = listenPortOf(workload, file);
  const admin = workload.ports?.admin;
  if (admin === undefined) throw new ConfigError('pki_config_invalid', `${file}: workloads.${workload.name}.ports.admin: required for a service with an admin listener`);
  return { listen, admin };
}

/** The port a workload listens on; a ConfigError when the declaration gives it none. */
export function listenPortOf(workload: Workload, file: string): number {
  if (workload.ports === undefined) throw new ConfigError('pki_config_invalid', `${file}: workloads.${workload.name}.ports: required for a workload that listens`);
  return workload.ports.listen;
}

function invalid(file: string, key: string): never {
  throw new ConfigError('pki_config_invalid', `${file}: ${key}: not a duration`);
}
