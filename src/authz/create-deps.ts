import { ConfigError, errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { ServiceDeps } from '../shared/service.js';
import { PKI_DIR, POLICY_DATA, POLICY_WASM } from '../shared/settings/common-settings.js';
import { WorkloadTls } from '../shared/tls/workload-tls.js';
import type { BucketStore } from './buckets/bucket-store.js';
import { createBucketStore } from './buckets/create-bucket-store.js';
import { systemClock, type Clock } from './clock.js';
import type { AuthzConfig } from './config.js';
import { JwksFileSource } from './jwt/jwks-file-source.js';
import { JwksUrlSource } from './jwt/jwks-url-source.js';
import type { KeySource } from './jwt/key-source.js';
import { createMetrics, type AuthzMetrics } from './metrics.js';
import { loadPolicyEngine } from './policy/load-policy-engine.js';
import type { PolicyEngine } from './policy/policy-engine.js';

/** The live resources the policy service is built from. */
export interface AuthzDeps extends ServiceDeps {
  /** The service's own certificate and trust bundle (`current/ca.pem`), followed through rotations. */
  readonly tls: WorkloadTls;
  readonly policy: PolicyEngine;
  readonly keys: KeySource;
  readonly buckets: BucketStore;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly clock: Clock;
  /** Stops the watchers and releases the bucket store. Idempotent. */
  close(): Promise<void>;
}

/** Parts a test or a bench supplies itself (a logger with a capture stream, a clock, a wrapped engine...). */
export type AuthzDepsOverrides = Partial<Omit<AuthzDeps, 'close'>>;

/**
 * Opens everything the service needs, up front: its certificate, the policy wasm and data, the JWT
 * keys, then the bucket store (connected last, so that a bad file fails the start before any
 * connection is opened). Each failure is a {@link ConfigError} whose message starts with the setting
 * that names the file. The watchers (certificate, JWKS file) start once everything has loaded.
 */
export async function createDeps(config: AuthzConfig, overrides: AuthzDepsOverrides = {}): Promise<AuthzDeps> {
  const logger = overrides.logger ?? createLogger('authz', { level: config.logLevel });
  const metrics = overrides.metrics ?? createMetrics();
  const [tls, policy] = await Promise.all([
    overrides.tls ?? named(WorkloadTls.load(config.pkiDir, config.workload), () => PKI_DIR.name),
    overrides.policy ??
      named(
        loadPolicyEngine({
          wasmPath: config.policyWasm,
          dataPath: config.policyData,
          onError: (cause) => logger.error({ err: errorMessage(cause) }, 'policy evaluation failed: denied as policy_error'),
        }),
        (err) => (err.code.startsWith('policy_wasm') ? POLICY_WASM.name : POLICY_DATA.name),
      ),
  ]);
  const keys = overrides.keys ?? (await openKeys(config, logger));
  const buckets =
    overrides.buckets ??
    createBucketStore({
      redis: config.redis,
      identity: tls,
      failureMode: config.failureMode,
      redisCommandTimeoutMs: config.redisTimeoutMs,
      hooks: metrics.bucketHooks,
      logger,
    });
  tls.watch();
  let closing: Promise<void> | undefined;
  return {
    tls,
    policy,
    keys,
    buckets,
    logger,
    metrics,
    clock: overrides.clock ?? systemClock,
    close() {
      closing ??= (async () => {
        tls.close();
        keys.close();
        await buckets.close();
      })();
      return closing;
    },
  };
}

/** The key source the settings select: JWKS_URL when set, else JWKS_FILE (watched). */
async function openKeys(config: AuthzConfig, logger: Logger): Promise<KeySource> {
  if (config.jwksUrl !== undefined) {
    const source = new JwksUrlSource(config.jwksUrl, {
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

/** Names the setting behind a file that failed to load, as a bad setting's error does: `ZT_PKI_DIR: ...`. */
async function named<T>(loading: Promise<T>, setting: (err: ConfigError) => string): Promise<T> {
  try {
    return await loading;
  } catch (err) {
    throw err instanceof ConfigError ? new ConfigError(err.code, `${setting(err)}: ${err.message}`, { cause: err }) : err;
  }
}
