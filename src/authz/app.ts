import { createServer as createHttpServer } from 'node:http';
import express from 'express';
import { errorMessage } from '../shared/errors.js';
import { buildAdminApp } from '../shared/http/admin-app.js';
import { expressOverHttp2 } from '../shared/http/express-http2.js';
import type { BuiltApp } from '../shared/service.js';
import { createMtlsServer } from '../shared/tls/mtls-server.js';
import type { TlsMaterial } from '../shared/tls/workload-tls.js';
import { CheckHandler } from './check-handler.js';
import type { AuthzConfig } from './config.js';
import type { AuthzDeps } from './create-deps.js';
import { TokenVerifier } from './jwt/token-verifier.js';

// Edges hold their connections to authz open (a full mTLS handshake costs ~1.5 ms of server CPU);
// Envoy's upstream idle timeout is an hour, so outlast a client-side minute comfortably.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * Builds the policy service from its config and live deps: the check listener (`port`) and the
 * admin listener (`admin_port`), not listening yet. The check app sits behind the one mTLS
 * listener (createMtlsServer: client certificate chained to the workload's ca.pem, renegotiation
 * off, rotation followed); which peers get a decision is the check's first step. `/healthz`,
 * `/readyz` and `/metrics` are on the plain-HTTP admin listener.
 */
export function buildApp(config: AuthzConfig, deps: AuthzDeps): BuiltApp {
  const handler = new CheckHandler({
    trustDomain: config.trustDomain,
    streamRecheckPeer: config.streamRecheckPeer,
    realm: config.jwt.audience,
    policy: deps.policy,
    verifier: new TokenVerifier(config.jwt, deps.keys, deps.clock),
    buckets: deps.buckets,
    logger: deps.logger,
    metrics: deps.metrics,
    clock: deps.clock,
  });

  // Edges speak HTTP/2 to the check listener (envoy.yaml's authz cluster); HTTP/1.1 stays for
  // the dev edge, the rating API's stream re-checks and any plain client (express-http2.ts).
  const app = expressOverHttp2(() => {
    const check = express();
    check.disable('x-powered-by');
    check.disable('etag');
    check.set('query parser', false);
    check.use(handler.check);
    check.use(handler.errors);
    return check;
  });

  const { logger } = deps;
  const server = createMtlsServer(deps.tls, app, {
    trustDomain: config.trustDomain,
    http2: true,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    onRefused: (why) => logger.debug({ err: why }, 'tls handshake refused'),
  });
  server.on('tlsClientError', (err) => logger.debug({ err: errorMessage(err) }, 'tls handshake refused'));
  const onRotated = (m: TlsMaterial, previous: string): void => void logger.info({ serial: m.serial, previous_serial: previous }, 'certificate rotated');
  const onError = (err: Error): void => void logger.error({ err: errorMessage(err) }, 'certificate reload failed; the current certificate stays');
  deps.tls.on('rotated', onRotated);
  deps.tls.on('error', onError);

  // The policy and the certificate are loaded before buildApp runs (createDeps fails the start
  // otherwise); what can come and go is the key set (a JWKS URL) and the bucket store (Redis).
  const admin = buildAdminApp(
    [
      { name: 'keys', ready: () => deps.keys.isReady() },
      { name: 'buckets', ready: () => deps.buckets.isReady() },
    ],
    deps.metrics.registry,
  );

  return {
    listeners: [
      { name: 'port', server, at: config.listen },
      { name: 'admin_port', server: createHttpServer(admin), at: config.adminListen },
    ],
    close() {
      deps.tls.off('rotated', onRotated);
      deps.tls.off('error', onError);
      return Promise.resolve();
    },
  };
}
