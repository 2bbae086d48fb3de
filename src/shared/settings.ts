/**
 * Every setting any process reads from the environment, with its default and meaning, in one table.
 * Each process's config module picks its rows from here, validates them once at start and freezes
 * the result. The README's settings table is generated from this table (`npm run docs:settings`), and
 * CI fails when the two differ.
 */

export type Service = 'pki' | 'authz' | 'rating' | 'edge' | 'stack';

export interface Setting {
  readonly name: string;
  /** The default as text; `undefined` means "unset". `$ZT_PKI_DIR` is expanded by the config modules. */
  readonly default: string | undefined;
  readonly meaning: string;
  readonly services: readonly Service[];
}

export const SETTINGS = [
  { name: 'ZT_PKI_DIR', default: 'pki/out', meaning: 'Where the generated PKI lives (CA, workload certs, JWT keys).', services: ['pki', 'authz', 'rating', 'edge', 'stack'] },
  { name: 'ZT_PKI_CONFIG', default: 'pki/workloads.yaml', meaning: 'The committed PKI declaration: trust domain, CA lifetimes, workloads.', services: ['pki', 'stack'] },
  { name: 'ZT_TRUST_DOMAIN', default: 'zt.local', meaning: 'SPIFFE trust domain; overrides `trust_domain` in workloads.yaml.', services: ['pki', 'authz', 'rating', 'edge', 'stack'] },
  { name: 'ZT_WORKLOAD', default: undefined, meaning: 'Which `$ZT_PKI_DIR/<workload>/current` a service presents; defaults per service (`authz`, `rating-api`, `edge-<region>`).', services: ['authz', 'rating', 'edge'] },
  { name: 'AUTHZ_LISTEN', default: '127.0.0.1:9443', meaning: 'The policy service mTLS listener (host:port).', services: ['authz', 'stack'] },
  { name: 'AUTHZ_ADMIN_LISTEN', default: '127.0.0.1:9090', meaning: 'Plain-HTTP admin listener: /healthz, /readyz, /metrics.', services: ['authz', 'stack'] },
  { name: 'RATING_LISTEN', default: '127.0.0.1:7443', meaning: 'The rating API mTLS listener (host:port).', services: ['rating', 'stack'] },
  { name: 'RATING_ADMIN_LISTEN', default: '127.0.0.1:9091', meaning: 'Plain-HTTP admin listener of the rating API: /healthz, /readyz.', services: ['rating', 'stack'] },
  { name: 'EDGE_REGION', default: undefined, meaning: 'The region of a dev edge: `us-east` or `eu-central` (required for the edge).', services: ['edge'] },
  { name: 'EDGE_LISTEN', default: undefined, meaning: 'The dev edge mTLS listener; defaults to 127.0.0.1:8443 (us-east) or 127.0.0.1:8444 (eu-central).', services: ['edge'] },
  { name: 'EDGE_ADMIN_LISTEN', default: undefined, meaning: 'Plain-HTTP admin listener of a dev edge; defaults to 127.0.0.1:9901 (us-east) or 127.0.0.1:9902 (eu-central).', services: ['edge'] },
  { name: 'ENVOY_CONFIG', default: 'envoy/envoy.yaml', meaning: 'The Envoy config the dev edge takes its authz prefix, timeout and header lists from.', services: ['edge', 'stack'] },
  { name: 'AUTHZ_URL', default: undefined, meaning: 'Where an edge sends ext_authz checks, e.g. https://127.0.0.1:9443 (required for the edge).', services: ['edge'] },
  { name: 'RATING_URL', default: undefined, meaning: 'Where an edge forwards allowed requests, e.g. https://127.0.0.1:7443 (required for the edge).', services: ['edge'] },
  { name: 'REDIS_URL', default: undefined, meaning: 'Redis for token buckets and ratings; unset means the in-memory stores.', services: ['authz', 'rating', 'stack'] },
  { name: 'RATE_LIMIT_FAILURE_MODE', default: 'local', meaning: 'When Redis fails: `local` (in-process buckets), `open` (allow) or `closed` (503).', services: ['authz'] },
  { name: 'RATE_LIMIT_REDIS_TIMEOUT_MS', default: '50', meaning: 'Redis command timeout for token buckets; past it the failure mode decides.', services: ['authz'] },
  { name: 'JWT_ISSUER', default: 'https://idp.zt.local', meaning: 'Required `iss` of every token.', services: ['authz', 'pki'] },
  { name: 'JWT_AUDIENCE', default: 'rating-api', meaning: 'Required `aud` of every token.', services: ['authz', 'pki'] },
  { name: 'JWT_ALGORITHMS', default: 'ES256', meaning: 'Comma-separated allow-list of JWS algorithms; `none` and HS* are refused.', services: ['authz'] },
  { name: 'JWT_CLOCK_TOLERANCE_S', default: '5', meaning: 'Clock skew tolerated on `exp` and `nbf`, in seconds.', services: ['authz'] },
  { name: 'JWT_CACHE_SIZE', default: '10000', meaning: 'Verified-token cache entries (0 disables the cache).', services: ['authz'] },
  { name: 'JWKS_FILE', default: '$ZT_PKI_DIR/jwt/jwks.json', meaning: 'JWKS file, re-read when it changes.', services: ['authz'] },
  { name: 'JWKS_URL', default: undefined, meaning: 'Remote JWKS (createRemoteJWKSet); takes precedence over JWKS_FILE.', services: ['authz'] },
  { name: 'POLICY_WASM', default: 'policies/build/policy.wasm', meaning: 'The compiled Rego policy.', services: ['authz', 'stack'] },
  { name: 'POLICY_DATA', default: 'policies/data.json', meaning: 'The policy data: tiers, limits, tenants, cross_region_allow.', services: ['authz', 'stack'] },
  { name: 'LOG_LEVEL', default: 'info', meaning: 'pino log level.', services: ['pki', 'authz', 'rating', 'edge', 'stack'] },
  { name: 'ROTATE_INTERVAL_S', default: '60', meaning: 'How often `npm start` runs the certificate rotation; 0 turns it off.', services: ['stack'] },
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['name'];

const byName = new Map<string, Setting>(SETTINGS.map((s) => [s.name, s]));

/** The row of one setting. Throws on a name that is not in the table, so typos fail loudly. */
export function setting(name: SettingName): Setting {
  const row = byName.get(name);
  if (!row) throw new Error(`unknown setting ${name}`);
  return row;
}

/**
 * Reads the named settings from `env` once: the value if set and non-empty, else the default.
 * `$ZT_PKI_DIR` inside a default is expanded with the resolved ZT_PKI_DIR.
 */
export function readSettings<N extends SettingName>(
  names: readonly N[],
  env: NodeJS.ProcessEnv = process.env,
): Record<N, string | undefined> {
  const pkiDir = nonEmpty(env.ZT_PKI_DIR) ?? setting('ZT_PKI_DIR').default;
  const out = {} as Record<N, string | undefined>;
  for (const name of names) {
    const value = nonEmpty(env[name]) ?? setting(name).default;
    out[name] = value?.replace('$ZT_PKI_DIR', pkiDir ?? 'pki/out');
  }
  return out;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Renders the settings table as Markdown, for the README. */
export function settingsMarkdown(): string {
  const lines = ['| setting | default | used by | meaning |', '| --- | --- | --- | --- |'];
  for (const s of SETTINGS) {
    const def = s.default === undefined ? '' : `\`${s.default}\``;
    lines.push(`| \`${s.name}\` | ${def} | ${s.services.join(', ')} | ${s.meaning} |`);
  }
  return lines.join('\n');
}
