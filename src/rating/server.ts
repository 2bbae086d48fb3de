import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Express } from 'express';
import { buildAdminApp } from '../shared/admin.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { closeServer, listen } from '../shared/listen.js';
import type { TlsMaterial } from '../shared/workload-tls.js';
import { buildApp } from './app.js';
import type { RatingConfig } from './config.js';
import type { RatingStore } from './rating-store.js';

/**
 * Longer than any idle timeout an edge should keep for its upstream connections, so that the edge
 * closes an idle connection before Node does and never sends a request into a closing socket.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/**
 * The mTLS server of the rating API: a client certificate is required and must chain to the trust
 * bundle (the handshake fails otherwise), TLS 1.2 at least. Which verified peers may call is the
 * app's business (edges only).
 */
export function createMtlsServer(app: Express, tls: TlsMaterial): HttpsServer {
  const server = createHttpsServer(
    { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    app,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 5_000;
  return server;
}

/** A running rating API: the mTLS listener and the loopback admin listener. */
export interface RatingService {
  readonly port: number;
  readonly adminPort: number;
  /** Stops both listeners and the certificate watch. The store is the caller's to close. */
  close(): Promise<void>;
}

export interface RatingServiceDeps {
  readonly store: RatingStore;
  readonly logger: Logger;
}

/**
 * Starts the rating API as `main.ts` runs it: the app on the mTLS listener with hot certificate
 * reload, and `/healthz` and `/readyz` (ready while the store is) on the plain-HTTP admin listener.
 */
export async function startRatingService(config: RatingConfig, deps: RatingServiceDeps): Promise<RatingService> {
  const { logger, store } = deps;
  const server = createMtlsServer(buildApp(config, deps), config.tls.material);
  const admin: HttpServer = createHttpServer(buildAdminApp([{ name: `store:${store.name}`, ready: () => store.isReady() }]));
  const onRotated = (m: TlsMaterial, previous: string): void => logger.info({ serial: m.serial, previous_serial: previous }, 'certificate_rotated');
  const onTlsError = (err: Error): void => logger.error({ err: errorMessage(err) }, 'certificate_reload_failed');
  // The new context must keep the TLS floor; requestCert and rejectUnauthorized belong to the server.
  config.tls.attachServer(server, { minVersion: 'TLSv1.2' });
  config.tls.on('rotated', onRotated).on('error', onTlsError).watch();
  try {
    const port = await listen(server, config.listen);
    const adminPort = await listen(admin, config.adminListen);
    return {
      port,
      adminPort,
      async close() {
        config.tls.close();
        config.tls.off('rotated', onRotated).off('error', onTlsError);
        await Promise.all([closeServer(server), closeServer(admin)]);
      },
    };
  } catch (err) {
    config.tls.close();
    if (server.listening) await closeServer(server);
    throw err;
  }
}
