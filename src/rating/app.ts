import express, { type Express } from 'express';
import type { Logger } from '../shared/logger.js';
import { requireEdgePeer } from './edge-peer.js';
import { errorHandler, notFound } from './error-handler.js';
import type { RatingStore } from './rating-store.js';
import { requestIdMiddleware } from './request-id.js';
import { healthRoutes, ratingRoutes } from './routes.js';

/** What the app needs of the configuration. */
export interface RatingAppConfig {
  /** Peers must hold an edge SPIFFE ID of this trust domain. */
  readonly trustDomain: string;
}

export interface RatingAppDeps {
  readonly store: RatingStore;
  readonly logger: Logger;
}

/**
 * The rating API as an Express app, for an HTTPS server that requests and verifies client
 * certificates (see server.ts). It never listens. The edge check runs before routing, so a peer
 * that is not an edge learns nothing, not even which paths exist.
 */
export function buildApp(config: RatingAppConfig, deps: RatingAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Aggregates change with every write; a validator would only invite caches to serve stale ones.
  app.disable('etag');
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // Proxies are never trusted for addresses: identity comes from the TLS peer, not from headers.
  app.set('trust proxy', false);
  app.use(requestIdMiddleware);
  app.use(requireEdgePeer(config.trustDomain));
  app.use(healthRoutes());
  app.use(ratingRoutes(deps));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
