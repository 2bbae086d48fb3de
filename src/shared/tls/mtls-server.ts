import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { peerIdentity } from './peer-identity.js';
import { TLS_PROFILE } from './tls-profile.js';
import type { TlsMaterial, WorkloadTls } from './workload-tls.js';

/** Options of the HTTP server that can only be given at its creation. */
export interface MtlsHttpOptions {
  /** Request line and headers together, in bytes; past it the parser refuses the request (HPE_HEADER_OVERFLOW). */
  readonly maxHeaderSize?: number;
  /** How often timed-out request heads are looked for (Node's default is 30 s). */
  readonly connectionsCheckingIntervalMs?: number;
  /** New connections are not read until a `connection` listener resumes them. */
  readonly pauseOnConnect?: boolean;
}

export interface MtlsServerOptions {
  /** The trust domain a peer's SPIFFE ID must belong to. */
  readonly trustDomain: string;
  /** Idle keep-alive timeout; peers keep connections open (a full mTLS handshake is expensive). */
  readonly keepAliveTimeoutMs?: number;
  /** How long a client may take to send a request's headers. */
  readonly headersTimeoutMs?: number;
  /** Told of each connection refused after its handshake, and why; for the service's log. */
  readonly onRefused?: (why: string, socket: TLSSocket) => void;
  readonly http?: MtlsHttpOptions;
}

/**
 * The one mTLS listener every service here uses. It
 * - requires a client certificate that chains to the workload's own trust bundle (`current/ca.pem`,
 *   the one source of trust anchors) and allows TLS client authentication: OpenSSL fails the
 *   handshake of one whose extended key usage leaves clientAuth out, and the server drops one that
 *   has no extended key usage at all (which OpenSSL would take for "any use");
 * - speaks the project's TLS profile (tls-profile.ts) and refuses renegotiation, so a peer's
 *   identity, read once per connection, can never change under it;
 * - follows certificate rotation: each new certificate and bundle goes into a new secure context
 *   for new handshakes, open connections carry on, session ticket keys survive the swap.
 * Which peers may call which route is the app's business (peer-identity.ts).
 */
export function createMtlsServer(tls: WorkloadTls, handler: (req: IncomingMessage, res: ServerResponse) => void, options: MtlsServerOptions): Server {
  const context = (m: TlsMaterial): Record<string, unknown> => ({ ...TLS_PROFILE, cert: m.cert, key: m.key, ca: m.ca });
  const http = options.http ?? {};
  const server = createServer(
    {
      ...context(tls.material),
      requestCert: true,
      rejectUnauthorized: true,
      ...(http.maxHeaderSize === undefined ? {} : { maxHeaderSize: http.maxHeaderSize }),
      ...(http.connectionsCheckingIntervalMs === undefined ? {} : { connectionsCheckingInterval: http.connectionsCheckingIntervalMs }),
      ...(http.pauseOnConnect === undefined ? {} : { pauseOnConnect: http.pauseOnConnect }),
    },
    handler,
  );
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  if (options.headersTimeoutMs !== undefined) server.headersTimeout = options.headersTimeoutMs;
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.disableRenegotiation();
    // No EKU at all passes OpenSSL's purpose check; here it is not a TLS client certificate.
    if (peerIdentity(socket, options.trustDomain)?.clientAuth !== true) {
      options.onRefused?.('the client certificate does not allow TLS client authentication (no clientAuth EKU)', socket);
      socket.destroy();
    }
  });
  const onRotated = (m: TlsMaterial): void => server.setSecureContext({ ...context(m), ticketKeys: server.getTicketKeys() });
  tls.on('rotated', onRotated);
  server.once('close', () => tls.off('rotated', onRotated));
  return server;
}
