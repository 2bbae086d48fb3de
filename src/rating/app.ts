import { createServer } from 'node:http';
import express, { type Express } from 'express';
import { errorMessage } from '../shared/errors.js';
import { buildAdminApp } from '../shared/http/admin-app.js';
import { requestIdFrom } from '../shared/http/request-id.js';
import type { BuiltApp } from '../shared/service.js';
import { createMtlsServer } from '../shared/tls/mtls-server.js';
import { peerIdentity, type PeerIdentity } from '../shared/tls/peer-identity.js';
import type { TlsMaterial } from '../shared/tls/workload-tls.js';
import type { RatingConfig } from './config.js';
import type { RatingDeps } from './create-deps.js';
import { serveUpgrades } from '../shared/http/upgrade.js';
import { errorHandler, notFound } from './error-handler.js';
import { ratingError } from './rating-errors.js';
import { healthRoutes, ratingRoutes } from './routes.js';
import { StreamServer } from './stream/stream-server.js';
import { TokenRecheck } from './stream/token-recheck.js';

/**
 * Longer than any idle timeout an edge should keep for its upstream connections, so that the edge
 * closes an idle connection before Node does and never sends a request into a closing socket.
 */
const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** How long a stream's token refresh may wait for authz (an edge waits 250 ms for a check; a refresh is not on a request's path). */
const RECHECK_TIMEOUT_MS = 2000;

/**
 * The rating API: the app on the mTLS listener (`port`; client certificates required, then edges
 * only), and `/healthz` and `/readyz` (ready while the store and the feed are) on the plain-HTTP
 * admin listener (`admin_port`). It never listens. The rating streams' WebSocket handshakes come
 * through the same app (serveUpgrades), so only an edge can open one, exactly as for REST.
 * Certificate rotations and refused connections are logged here.
 */
export function buildApp(config: RatingConfig, deps: RatingDeps): BuiltApp {
  const { logger, tls, store, feed } = deps;
  const recheck = new TokenRecheck(config.stream.authzUrl, config.stream.authzSpiffeId, tls, RECHECK_TIMEOUT_MS);
  const streams = new StreamServer({ config: config.stream, trustDomain: config.trustDomain, store, feed, logger, recheck: (input) => recheck.check(input) });
  const app = ratingApp(config, deps, streams);
  const server = createMtlsServer(tls, app, {
    trustDomain: config.trustDomain,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    headersTimeoutMs: KEEP_ALIVE_TIMEOUT_MS + 5_000,
    onRefused: (why, socket) => logger.info({ reason: why, remote_address: socket.remoteAddress }, 'connection_refused'),
  });
  serveUpgrades(server, app);
  // server.close() waits for every socket it accepted, upgraded ones included, which are no
  // longer the HTTP server's to end: whoever closes the server closes the streams first (1001).
  const closeServer = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    void streams.closeAll().then(() => closeServer(callback));
    return server;
  };
  const admin = createServer(
    buildAdminApp([
      { name: `store:${store.name}`, ready: () => store.isReady() },
      { name: `feed:${feed.name}`, ready: () => feed.isReady() },
    ]),
  );
  const onRotated = (m: TlsMaterial, previous: string): void => logger.info({ serial: m.serial, previous_serial: previous }, 'certificate_rotated');
  const onTlsError = (err: Error): void => logger.error({ err: errorMessage(err) }, 'certificate_reload_failed');
  tls.on('rotated', onRotated).on('error', onTlsError);
  return {
    listeners: [
      { name: 'port', server, at: config.listen },
      { name: 'admin_port', server: admin, at: config.adminListen },
    ],
    close() {
      tls.off('rotated', onRotated).off('error', onTlsError);
      return Promise.resolve();
    },
  };
}

/**
 * The rating API as an Express app. The edge check runs before routing, so a peer that is not an
 * edge learns nothing, not even which paths exist.
 */
function ratingApp(config: RatingConfig, deps: RatingDeps, streams: StreamServer): Express {
  const app = express();
  app.disable('x-powered-by');
  // Aggregates change with every write; a validator would only invite caches to serve stale ones.
  app.disable('etag');
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // Proxies are never trusted for addresses: identity comes from the TLS peer, not from headers.
  app.set('trust proxy', false);
  // One middleware before routing, so the common path takes one step here. The request's id is
  // its x-request-id, made sane once: handlers and the error exit read it back with requestIdFrom,
  // which keeps a valid id as it is. It is echoed on every response. Then the peer: only an edge
  // strips client-supplied x-zt-* headers and asks authz first, so anything else (a client,
  // another service, a foreign trust domain) is 403 `untrusted_peer`. So is an edge certificate
  // that does not allow TLS client authentication, which the listener already refuses before
  // reading a byte (mtls-server.ts); checked here too, as the peer's identity is read anyway.
  // A read or write of `.../ratings` with a plain path then goes straight to its handler (see
  // ratingRoutes); everything else is routed.
  const ratings = ratingRoutes(deps);
  app.use((req, res, next) => {
    const id = requestIdFrom(req.headers['x-request-id']);
    req.headers['x-request-id'] = id;
    res.setHeader('x-request-id', id);
    if (!isEdge(peerIdentity(req.socket, config.trustDomain))) next(ratingError('untrusted_peer'));
    else if (!ratings.shortcut(req, res, next)) next();
  });
  // Every route on the app's own router (case-sensitive and strict, set above), in this order.
  healthRoutes(app);
  streams.routes(app);
  ratings.addTo(app);
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}

/** A peer the rating API serves: an edge of the trust domain whose certificate allows TLS client authentication. */
function isEdge(peer: PeerIdentity | undefined): boolean {
  return peer?.clientAuth === true && peer.spiffeId?.kind === 'edge';
}
