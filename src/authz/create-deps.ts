import { readFile } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { WorkloadTls } from '../shared/workload-tls.js';
import { PkiLayout } from '../pki/layout.js';
import type { AuthzDeps } from './app.js';
import { createBucketStore } from './buckets/create-bucket-store.js';
import { systemClock } from './clock.js';
import type { AuthzConfig } from './config.js';
import { JwksFileSource } from './jwt/jwks-file-source.js';
import { JwksUrlSource } from './jwt/jwks-url-source.js';
import type { KeySource } from './jwt/key-source.js';
import { createMetrics } from './metrics.js';
import { loadPolicyEngine } from './policy/load-policy-engine.js';

/**
 * Loads everything the service needs up front: its certificate, the trust bundle, the policy wasm
 * and data, the JWT keys, and the bucket store (connected last, so that a bad file fails the start
 * before any connection is opened). Each failure is a {@link ConfigError} naming its file or
 * setting. `overrides` replace single parts, for tests (a logger with a capture stream, a clock).
 */
export async function createDeps(config: AuthzConfig, overrides: Partial<AuthzDeps> = {}): Promise<AuthzDeps> {
  const logger = overrides.logger ?? createLogger('authz', { level: config.logLevel });
  const metrics = overrides.metrics ?? createMetrics();
  const layout = new PkiLayout(config.pkiDir);
  const [tls, caBundle, policy] = await Promise.all([
    overrides.tls ?? WorkloadTls.load(config.pkiDir, config.workload),
    overrides.caBundle ?? readBundle(layout.bundle),
    overrides.policy ??
      loadPolicyEngine({
        wasmPath: config.policyWasm,
        dataPath: config.policyData,
        onError: (cause) => logger.error({ err: errorMessage(cause) }, 'policy evaluation failed: denied as policy_error'),
      }),
  ]);
  const keys = overrides.keys ?? (await loadKeys(config, logger));
  const buckets =
    overrides.buckets ??
    createBucketStore({
      redisUrl: config.redisUrl,
      failureMode: config.failureMode,
      redisCommandTimeoutMs: config.redisTimeoutMs,
      hooks: metrics.bucketHooks,
      logger,
    });
  return { tls, caBundle, policy, keys, buckets, logger, metrics, clock: overrides.clock ?? systemClock };
}

/** The key source the settings select: JWKS_URL when set, else JWKS_FILE (watched). */
export async function loadKeys(config: AuthzConfig, logger: Logger): Promise<KeySource> {
  if (config.jwksUrl !== undefined) {
    const source = new JwksUrlSource(new URL(config.jwksUrl), {
      onError: (err) => logger.warn({ err: err.message }, 'JWKS fetch failed'),
    });
    await source.start();
    return source;
  }
  const source = await JwksFileSource.load(config.jwksFile, {
    onError: (err) => logger.warn({ err: err.message }, 'JWKS reload failed'),
    onReload: (kids) => logger.info({ kids }, 'JWKS reloaded'),
  });
  return source.watch();
}

async function readBundle(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('pki_missing', `ZT_PKI_DIR: cannot read the trust bundle ${path}: ${errorMessage(err)} (run: pki init)`, { cause: err });
  }
}
