import { X509Certificate } from 'node:crypto';
import { ConfigError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { ServiceDeps } from '../shared/service.js';
import { uriSans } from '../shared/spiffe.js';
import { WorkloadTls } from '../shared/tls/workload-tls.js';
import type { EdgeConfig } from './config.js';
import { EdgeStats } from './stats.js';

/** The live resources of a dev edge. */
export interface EdgeDeps extends ServiceDeps {
  /** The edge's certificate, key and trust bundle, watched for rotation; it presents them on both sides. */
  readonly tls: WorkloadTls;
  /** Its counters under Envoy's stat names, served on the admin listener's /stats. */
  readonly stats: EdgeStats;
}

/**
 * Opens what a dev edge runs on: its certificate, which must carry the region's edge identity (a
 * ConfigError naming ZT_WORKLOAD otherwise), watched for rotation from then on; a logger with the
 * region bound; its counters. `overrides.logger` is for tests that read the lines.
 */
export async function createDeps(config: EdgeConfig, overrides: { readonly logger?: Logger } = {}): Promise<EdgeDeps> {
  const tls = await WorkloadTls.load(config.pkiDir, config.workload);
  const own = uriSans(new X509Certificate(tls.material.cert).subjectAltName);
  if (own.length !== 1 || own[0] !== config.spiffeId) {
    throw new ConfigError(
      'bad_setting',
      `ZT_WORKLOAD: the certificate of ${config.workload} (${own.join(', ') || 'no SPIFFE ID'}) is not ${config.spiffeId}, the ${config.region} edge of trust domain ${config.trustDomain} (EDGE_REGION, ZT_TRUST_DOMAIN)`,
    );
  }
  tls.watch();
  return {
    logger: overrides.logger ?? createLogger('edge', { level: config.logLevel, bindings: { region: config.region } }),
    tls,
    stats: new EdgeStats(),
    close() {
      tls.close();
      return Promise.resolve();
    },
  };
}
