/**
 * The dev edge's one config module: it reads its settings once, validates them, loads the edge's
 * certificate and the Envoy config it mirrors, and returns a frozen object. A bad setting throws a
 * ConfigError that names it; main prints the message and exits 1.
 */
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { parseListen, type ListenAddress } from '../shared/listen.js';
import { readSettings } from '../shared/settings.js';
import { parseSpiffeId, uriSans, type SpiffeId } from '../shared/spiffe.js';
import { WorkloadTls } from '../shared/workload-tls.js';
import { loadEnvoyConfig, type EnvoyEdgeConfig } from './envoy-config.js';

/** The regions a dev edge can speak for, with their default listeners (the compose host ports). */
export const EDGE_REGIONS = {
  'us-east': { listen: '127.0.0.1:8443', admin: '127.0.0.1:9901' },
  'eu-central': { listen: '127.0.0.1:8444', admin: '127.0.0.1:9902' },
} as const;

export type EdgeRegion = keyof typeof EDGE_REGIONS;

export interface EdgeConfig {
  readonly region: EdgeRegion;
  readonly trustDomain: string;
  readonly pkiDir: string;
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  readonly envoyConfigFile: string;
  /** What the edge takes from envoy.yaml: authz prefix, timeout, failure status, header lists. */
  readonly envoy: EnvoyEdgeConfig;
  readonly authzUrl: URL;
  readonly ratingUrl: URL;
  /** The identities the upstream clusters verify, as envoy.yaml's match_typed_subject_alt_names does. */
  readonly authzSpiffeId: string;
  readonly ratingSpiffeId: string;
  /** The edge's own identity, read from its certificate (the XFCC `By=`). */
  readonly self: SpiffeId;
  readonly logLevel: string;
  /** The edge's certificate, key and trust bundle, loaded at start; `watch()` keeps them current. */
  readonly tls: WorkloadTls;
}

const regionSchema = z.enum(Object.keys(EDGE_REGIONS) as [EdgeRegion, ...EdgeRegion[]]);
const trustDomainSchema = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'a DNS-like trust domain such as zt.local');
const httpsUrl = z.url({ protocol: /^https$/, error: 'an https:// URL such as https://127.0.0.1:9443' }).transform((u) => new URL(u));
const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Loads the edge's config from `env` (default: process.env). */
export async function loadEdgeConfig(env: NodeJS.ProcessEnv = process.env): Promise<EdgeConfig> {
  const s = readSettings(
    ['ZT_PKI_DIR', 'ZT_TRUST_DOMAIN', 'ZT_WORKLOAD', 'EDGE_REGION', 'EDGE_LISTEN', 'EDGE_ADMIN_LISTEN', 'ENVOY_CONFIG', 'AUTHZ_URL', 'RATING_URL', 'LOG_LEVEL'],
    env,
  );
  if (s.EDGE_REGION === undefined) throw new ConfigError('bad_setting', `EDGE_REGION is required: one of ${Object.keys(EDGE_REGIONS).join(', ')}`);
  const region = field('EDGE_REGION', regionSchema, s.EDGE_REGION);
  const trustDomain = field('ZT_TRUST_DOMAIN', trustDomainSchema, s.ZT_TRUST_DOMAIN);
  const defaults = EDGE_REGIONS[region];
  const authzUrl = field('AUTHZ_URL', httpsUrl, required('AUTHZ_URL', s.AUTHZ_URL));
  const ratingUrl = field('RATING_URL', httpsUrl, required('RATING_URL', s.RATING_URL));
  const listen = parseListen('EDGE_LISTEN', s.EDGE_LISTEN ?? defaults.listen);
  const adminListen = parseListen('EDGE_ADMIN_LISTEN', s.EDGE_ADMIN_LISTEN ?? defaults.admin);
  const logLevel = field('LOG_LEVEL', logLevelSchema, s.LOG_LEVEL);
  const pkiDir = resolve(s.ZT_PKI_DIR ?? 'pki/out');
  const workload = s.ZT_WORKLOAD ?? `edge-${region}`;
  const envoyConfigFile = resolve(s.ENVOY_CONFIG ?? 'envoy/envoy.yaml');

  const envoy = await loadEnvoyConfig(envoyConfigFile);
  if (envoy.authz.failureModeAllow) {
    // An edge that forwards when authz is down is not zero trust; refuse rather than reproduce it.
    throw new ConfigError('bad_setting', `ENVOY_CONFIG ${envoyConfigFile}: ext_authz failure_mode_allow is true; the dev edge only fails closed`);
  }
  const tls = await WorkloadTls.load(pkiDir, workload);
  const self = ownSpiffeId(tls.material.cert);
  if (self?.trustDomain !== trustDomain || self.kind !== 'edge' || self.region !== region) {
    throw new ConfigError(
      'bad_setting',
      `ZT_WORKLOAD ${workload}: its certificate (${self?.uri ?? 'no SPIFFE ID'}) is not the ${region} edge of trust domain ${trustDomain} (EDGE_REGION, ZT_TRUST_DOMAIN)`,
    );
  }

  return Object.freeze({
    region,
    trustDomain,
    pkiDir,
    workload,
    listen,
    adminListen,
    envoyConfigFile,
    envoy,
    authzUrl,
    ratingUrl,
    authzSpiffeId: `spiffe://${trustDomain}/global/svc/authz`,
    ratingSpiffeId: `spiffe://${trustDomain}/global/svc/rating-api`,
    self,
    logLevel,
    tls,
  });
}

/** The one URI SAN of the edge's own leaf (the first certificate of cert.pem). */
function ownSpiffeId(certPem: string): SpiffeId | undefined {
  const uris = uriSans(new X509Certificate(certPem).subjectAltName);
  return uris.length === 1 ? parseSpiffeId(uris[0] ?? '') : undefined;
}

function required(name: string, value: string | undefined): string {
  if (value === undefined) throw new ConfigError('bad_setting', `${name} is required`);
  return value;
}

function field<T extends z.ZodType>(name: string, schema: T, value: string | undefined): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ConfigError('bad_setting', `${name}: "${value ?? ''}" is not valid: ${r.error.issues[0]?.message ?? 'invalid'}`);
}
