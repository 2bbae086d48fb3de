import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import express, { type Express } from 'express';
import { buildAdminApp } from '../shared/admin.js';
import { errorMessage } from '../shared/errors.js';
import { closeServer } from '../shared/listen.js';
import type { Logger } from '../shared/logger.js';
import type { WorkloadTls } from '../shared/workload-tls.js';
import type { BucketStore } from './buckets/bucket-store.js';
import { CheckHandler } from './check-handler.js';
import type { Clock } from './clock.js';
import type { AuthzConfig } from './config.js';
import type { KeySource } from './jwt/key-source.js';
import { TokenVerifier } from './jwt/token-verifier.js';
import type { AuthzMetrics } from './metrics.js';
import type { PolicyEngine } from './policy/policy-engine.js';

/** Everything the policy service is built from, loaded by `createDeps` (or by a test). */
export interface AuthzDeps {
  /** The service's own certificate, kept current on rotation. */
  readonly tls: WorkloadTls;
  /** The trust anchors (`ca/bundle.crt`) client certificates are verified against. */
  readonly caBundle: string;
  readonly policy: PolicyEngine;
  readonly keys: KeySource;
  readonly buckets: BucketStore;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly clock: Clock;
}

/** The built service: two servers that are not listening yet, and one way to stop everything. */
export interface AuthzApp {
  /** The check app (mTLS). */
  readonly app: Express;
  /** HTTPS with a required, verified client certificate; listen on AUTHZ_LISTEN. */
  readonly server: HttpsServer;
  /** `/healthz`, `/readyz`, `/metrics`; listen on AUTHZ_ADMIN_LISTEN (loopback). */
  readonly adminServer: HttpServer;
  readonly verifier: TokenVerifier;
  /** Closes both servers, stops the watchers and releases the bucket store. Idempotent. */
  close(): Promise<void>;
}

// Edges hold their connections to authz open (a full mTLS handshake costs ~1.5 ms of server CPU);
// Envoy's upstream idle timeout is an hour, so outlast a client-side minute comfortably.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * Builds the policy service from its config and dependencies. It never listens; `main.ts` (or a
 * test) does. The certificate watcher starts here: a rotation swaps the listener's secure context
 * for new handshakes while open connections carry on.
 */
export function buildApp(config: AuthzConfig, deps: AuthzDeps): AuthzApp {
  const verifier = new TokenVerifier(config.jwt, deps.keys, deps.clock);
  const handler = new CheckHandler({
    trustDomain: config.trustDomain,
    realm: config.jwt.audience,
    policy: deps.policy,
    verifier,
    buckets: deps.buckets,
    logger: deps.logger,
    metrics: deps.metrics,
    clock: deps.clock,
  });

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  app.use(handler.gate);
  app.use(handler.check);
  app.use(handler.errors);

  const material = deps.tls.material;
  const server = createHttpsServer(
    {
      cert: material.cert,
      key: material.key,
      ca: deps.caBundle,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    app,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // The peer identity is read once per connection (edge-peer.ts); a renegotiation could change it.
  server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  server.on('tlsClientError', (err) => deps.logger.debug({ err: errorMessage(err) }, 'tls handshake refused'));

  deps.tls.on('rotated', (m, previous) => deps.logger.info({ serial: m.serial, previous_serial: previous }, 'certificate rotated'));
  deps.tls.on('error', (err) => deps.logger.error({ err: errorMessage(err) }, 'certificate reload failed; the current certificate stays'));
  deps.tls.watch().attachServer(server, { minVersion: 'TLSv1.2' });

  // The policy and the certificate are loaded before buildApp runs (createDeps fails the start
  // otherwise); what can come and go is the key set (a JWKS URL) and the bucket store (Redis).
  const admin = buildAdminApp(
    [
      { name: 'keys', ready: () => deps.keys.isReady() },
      { name: 'buckets', ready: () => deps.buckets.isReady() },
    ],
    deps.metrics.registry,
  );
  const adminServer = createHttpServer(admin);

  let closing: Promise<void> | undefined;
  return {
    app,
    server,
    adminServer,
    verifier,
    close() {
      closing ??= (async () => {
        deps.tls.close();
        deps.keys.close();
        await Promise.all([closeIfListening(server), closeIfListening(adminServer)]);
        await deps.buckets.close();
      })();
      return closing;
    },
  };
}

async function closeIfListening(server: HttpServer | HttpsServer): Promise<void> {
  if (server.listening) await closeServer(server);
}
