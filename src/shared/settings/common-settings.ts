/**
 * The rows more than one process reads. A process's own rows live in its config module; the README
 * table lists every row once, with every process that reads it.
 */
import { setting } from './setting.js';
import { logLevel, path, redisUrl, requiredText, trustDomain, workloadName } from './schemas.js';

export const PKI_DIR = setting('ZT_PKI_DIR', {
  default: 'pki/out',
  meaning: 'Where the generated PKI lives (CA, workload certs, JWT keys).',
  schema: path,
});

export const PKI_CONFIG = setting('ZT_PKI_CONFIG', {
  default: 'pki/workloads.yaml',
  meaning: 'The committed topology and PKI declaration: trust domain, regions, workloads, their SANs and ports, CA lifetimes.',
  schema: path,
});

/**
 * Unset, the trust domain is the topology's (`trust_domain` in workloads.yaml, zt.local): every
 * process takes it from `loadTopology(pkiConfig, trustDomain)`, so the PKI and the services agree.
 */
export const TRUST_DOMAIN = setting('ZT_TRUST_DOMAIN', {
  meaning: 'SPIFFE trust domain; overrides `trust_domain` in workloads.yaml (zt.local). Every process takes it from there.',
  schema: trustDomain.optional(),
});

export const WORKLOAD = setting('ZT_WORKLOAD', {
  meaning: 'Which `$ZT_PKI_DIR/<workload>/current` a service presents; defaults per service (`authz`, `rating-api`, `edge-<region>`).',
  schema: workloadName.optional(),
});

export const LOG_LEVEL = setting('LOG_LEVEL', { default: 'info', meaning: 'pino log level.', schema: logLevel });

export const REDIS_URL = setting('REDIS_URL', {
  meaning:
    'Redis (`rediss://host:port` only: TLS with client certificates, no password or database in the URL) for token buckets and ratings, reached as the service\'s own ACL user; the rotator keeps its users and certificate in step. Unset: the in-memory stores.',
  schema: redisUrl.optional(),
  secret: true,
});

export const PKI_ROOT_DIR = setting('ZT_PKI_ROOT_DIR', {
  default: '$ZT_PKI_DIR/root',
  meaning: 'Where the root CA key lives: read only by `pki init` and `pki renew-intermediate`, never by the rotator; keep it offline between those.',
  schema: path,
});

export const JWT_ISSUER = setting('JWT_ISSUER', { default: 'https://idp.zt.local', meaning: 'Required `iss` of every token.', schema: requiredText });

export const JWT_AUDIENCE = setting('JWT_AUDIENCE', { default: 'rating-api', meaning: 'Required `aud` of every token.', schema: requiredText });

export const POLICY_WASM = setting('POLICY_WASM', { default: 'policies/build/policy.wasm', meaning: 'The compiled Rego policy.', schema: path });

export const POLICY_DATA = setting('POLICY_DATA', { default: 'policies/data.json', meaning: 'The policy data: tiers, limits, tenants, cross_region_allow.', schema: path });

export const ENVOY_CONFIG = setting('ENVOY_CONFIG', {
  default: 'envoy/envoy.yaml',
  meaning: 'The Envoy config the edge follows: the dev edge takes its authz prefix, timeouts and header lists from it; `--edge envoy` runs a loopback copy of it.',
  schema: path,
});
