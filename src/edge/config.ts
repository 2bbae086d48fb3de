import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { ENVOY_CONFIG, LOG_LEVEL, PKI_CONFIG, PKI_DIR, TRUST_DOMAIN, WORKLOAD } from '../shared/settings/common-settings.js';
import { listenAddress, requiredText, url, type ListenAddress, type LogLevel } from '../shared/settings/schemas.js';
import { readSettings, setting } from '../shared/settings/setting.js';
import { edgeOf, edgeRegions, loadTopology, portsOf, workloadNamed } from '../shared/topology.js';
import { loadEnvoyConfig, type EnvoyEdgeConfig } from './envoy-config.js';
import { RATING_CLUSTER } from './upstream-proxy.js';

/** The settings a dev edge reads, by config field; the README's table is rendered from them. */
export const EDGE_SETTINGS = {
  pkiDir: PKI_DIR,
  pkiConfig: PKI_CONFIG,
  trustDomain: TRUST_DOMAIN,
  workload: WORKLOAD,
  region: setting('EDGE_REGION', {
    meaning: 'The region of a dev edge: one of the regions that have an edge in ZT_PKI_CONFIG (required for the edge).',
    schema: requiredText,
  }),
  listen: setting('EDGE_LISTEN', {
    meaning: 'The dev edge mTLS listener (host:port); default its region edge\'s port on loopback: 127.0.0.1:{edge-us-east.listen} (us-east), 127.0.0.1:{edge-eu-central.listen} (eu-central).',
    schema: listenAddress.optional(),
  }),
  adminListen: setting('EDGE_ADMIN_LISTEN', {
    meaning: 'Plain-HTTP admin listener of a dev edge: /healthz, /readyz, /stats; default 127.0.0.1:{edge-us-east.admin} (us-east), 127.0.0.1:{edge-eu-central.admin} (eu-central).',
    schema: listenAddress.optional(),
  }),
  envoyConfig: ENVOY_CONFIG,
  authzUrl: setting('AUTHZ_URL', {
    meaning: 'Where an edge sends ext_authz checks, e.g. https://127.0.0.1:{authz.listen} (required for the edge).',
    schema: url(['https:']),
  }),
  ratingUrl: setting('RATING_URL', {
    meaning: 'Where an edge forwards allowed requests, e.g. https://127.0.0.1:{rating-api.listen} (required for the edge).',
    schema: url(['https:']),
  }),
  logLevel: LOG_LEVEL,
} as const;

/** A dev edge's configuration: validated, frozen data, with nothing opened yet. */
export interface EdgeConfig {
  readonly region: string;
  /** Clients must hold a client SPIFFE ID of this trust domain (ZT_TRUST_DOMAIN, else the topology's). */
  readonly trustDomain: string;
  readonly pkiDir: string;
  readonly workload: string;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress;
  /** What the edge takes from envoy.yaml (ENVOY_CONFIG): authz prefix, timeout, failure status, header lists, routes. */
  readonly envoy: EnvoyEdgeConfig;
  /** The one timeout of envoy.yaml's routes, which all go to the rating API. */
  readonly routeTimeoutMs: number;
  readonly authzUrl: URL;
  readonly ratingUrl: URL;
  /** The edge's own identity, the region's edge in the topology: its certificate must carry it (the XFCC `By=`). */
  readonly spiffeId: string;
  /** The identities the upstream clusters verify, as envoy.yaml's match_typed_subject_alt_names does. */
  readonly authzSpiffeId: string;
  readonly ratingSpiffeId: string;
  readonly logLevel: LogLevel;
}

/**
 * Reads the settings and envoy.yaml once. A bad value throws a ConfigError naming the setting. The
 * regions, the edge's own identity, its default workload and listen addresses (its region edge's
 * ports, on loopback), the trust domain and the upstreams' identities all come from the topology
 * (ZT_PKI_CONFIG). envoy.yaml is read here rather than opened with the deps: it is plain data,
 * read once and never followed, and an edge that cannot reproduce it must not open anything.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const { pkiConfig, trustDomain } = readSettings({ pkiConfig: PKI_CONFIG, trustDomain: TRUST_DOMAIN }, env);
  const topology = loadTopology(pkiConfig, trustDomain);
  const settings = readSettings({ ...EDGE_SETTINGS, region: { ...EDGE_SETTINGS.region, schema: regionOf(edgeRegions(topology)) } }, env);
  const { region } = settings;
  const edge = edgeOf(topology, region);
  const ports = portsOf(edge, pkiConfig);
  const envoy = loadEnvoyConfig(settings.envoyConfig);
  if (envoy.authz.failureModeAllow) {
    // An edge that forwards when authz is down is not zero trust; refuse rather than reproduce it.
    throw new ConfigError('bad_setting', `ENVOY_CONFIG ${settings.envoyConfig}: ext_authz failure_mode_allow is true; the dev edge only fails closed`);
  }
  return Object.freeze({
    region,
    trustDomain: topology.trustDomain,
    pkiDir: settings.pkiDir,
    workload: settings.workload ?? edge.name,
    listen: settings.listen ?? { host: '127.0.0.1', port: ports.listen },
    adminListen: settings.adminListen ?? { host: '127.0.0.1', port: ports.admin },
    envoy,
    routeTimeoutMs: ratingRouteTimeout(envoy, settings.envoyConfig),
    authzUrl: settings.authzUrl,
    ratingUrl: settings.ratingUrl,
    spiffeId: edge.spiffeId,
    authzSpiffeId: workloadNamed(topology, 'authz').spiffeId,
    ratingSpiffeId: workloadNamed(topology, 'rating-api').spiffeId,
    logLevel: settings.logLevel,
  });
}

/** EDGE_REGION's schema once the topology is known: one of the regions that have an edge. */
function regionOf(regions: readonly string[]): z.ZodType<string, string | undefined> {
  const list = regions.join(', ');
  return z.string({ error: `required: one of ${list}` }).refine((r) => regions.includes(r), `not one of the regions with an edge: ${list}`);
}

/** The dev edge has one upstream, the rating API: envoy.yaml's routes must all go to its cluster, with one timeout. */
function ratingRouteTimeout(envoy: EnvoyEdgeConfig, file: string): number {
  const foreign = envoy.routes.find((r) => r.cluster !== RATING_CLUSTER);
  if (envoy.routes.length === 0 || foreign !== undefined) {
    throw new ConfigError('envoy_config', `${file}: the dev edge routes only to the ${RATING_CLUSTER} cluster; found ${foreign?.cluster ?? 'no route'}`);
  }
  const timeoutMs = envoy.routes[0]?.timeoutMs ?? 0;
  if (envoy.routes.some((r) => r.timeoutMs !== timeoutMs)) {
    throw new ConfigError('envoy_config', `${file}: the dev edge needs one timeout for every route to ${RATING_CLUSTER}`);
  }
  return timeoutMs;
}
