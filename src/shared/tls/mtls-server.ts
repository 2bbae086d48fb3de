import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer, type Server } from 'node:https';
import type { DualProtocolHandler } from '../http/express-http2.js';
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
  /**
   * Offer HTTP/2 as well (ALPN `h2`, then `http/1.1`): one multiplexed connection per peer instead
   * of a pool of HTTP/1.1 connections, each a full mTLS handshake. See {@link createMtlsServer}.
   */
  readonly http2?: boolean;
}

/**
 * Node's HTTP/2 server closes only the listener on close(): an idle HTTP/2 session (an edge holds
 * one open between checks) is left to its idle timeout, so a stopping service waited 65 s. Its
 * HTTP/1.1 side has closeIdleConnections(); this gives the HTTP/2 sessions the same two steps
 * closeServer (listen.ts) takes: GOAWAY to every session (streams in flight finish, no new one
 * starts), then, after the grace period, destroy what is left.
 */
function closesSessions(server: Http2SecureServer): void {
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const h1 = server as Http2SecureServer & { closeIdleConnections?: () => void; closeAllConnections?: () => void };
  const closeIdleH1 = h1.closeIdleConnections?.bind(server);
  h1.closeIdleConnections = () => {
    closeIdleH1?.();
    for (const session of sessions) session.close();
  };
  h1.closeAllConnections = () => {
    for (const session of sessions) session.destroy();
  };
}

type H1Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** At most this many streams at once on one HTTP/2 connection. */
const H2_MAX_CONCURRENT_STREAMS = 1000;
/** Node's HTTP/1.1 default for `maxHeaderSize` (http.maxHeaderSize), also the HTTP/2 header list size. */
const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

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
export function createMtlsServer(tls: WorkloadTls, handler: H1Handler, options: MtlsServerOptions & { http2?: false }): Server;
/**
 * With `http2: true`, the same guarantees over HTTP/2 and HTTP/1.1 on one port (`allowHTTP1`): the
 * TLS profile, the required client certificate, the clientAuth check, no renegotiation (HTTP/2
 * forbids it anyway) and rotation are the TLS server's, whatever ALPN picks. The keep-alive and
 * headers timeouts carry over to HTTP/1.1 connections as they are; HTTP/2 gets counterparts:
 * - the header size limit is 16 KiB on both: Node's HTTP/1.1 default, and the same as
 *   SETTINGS_MAX_HEADER_LIST_SIZE (HPACK-decoded names and values, 32 bytes per field more: RFC
 *   9113 §6.5.2, about the size HTTP/1.1 counts); `maxHeaderSize` and
 *   `connectionsCheckingIntervalMs` are refused, as Node's HTTP/2 server would not apply them to
 *   its HTTP/1.1 side;
 * - `keepAliveTimeoutMs` becomes the session's idle timeout (no stream, no frame);
 * - `headersTimeoutMs` has none: a stream's headers arrive as one HEADERS block, and a session
 *   that sends nothing at all is ended by the idle timeout;
 * - SETTINGS_MAX_CONCURRENT_STREAMS bounds the streams of one connection (1,000).
 * The peer of a request is the connection's (peer-identity.ts, `requestSocket`).
 */
export function createMtlsServer(tls: WorkloadTls, handler: DualProtocolHandler, options: MtlsServerOptions & { http2: true }): Http2SecureServer;
export function createMtlsServer(tls: WorkloadTls, handler: DualProtocolHandler | H1Handler, options: MtlsServerOptions): Server | Http2SecureServer {
  const context = (m: TlsMaterial): Record<string, unknown> => ({ ...TLS_PROFILE, cert: m.cert, key: m.key, ca: m.ca });
  const http = options.http ?? {};
  const h1Options = {
    ...(http.maxHeaderSize === undefined ? {} : { maxHeaderSize: http.maxHeaderSize }),
    ...(http.connectionsCheckingIntervalMs === undefined ? {} : { connectionsCheckingInterval: http.connectionsCheckingIntervalMs }),
    ...(http.pauseOnConnect === undefined ? {} : { pauseOnConnect: http.pauseOnConnect }),
  };
  const tlsOptions = { ...context(tls.material), requestCert: true, rejectUnauthorized: true };
  // Node's HTTP/2 server does not pass these two to its HTTP/1.1 side (probed on Node 20: a
  // 4 KB header passed a maxHeaderSize of 1 KiB), so it refuses them rather than ignore them.
  if (options.http2 === true && (http.maxHeaderSize !== undefined || http.connectionsCheckingIntervalMs !== undefined)) {
    throw new Error('createMtlsServer: maxHeaderSize and connectionsCheckingIntervalMs are HTTP/1.1-only options; the http2 listener keeps Node defaults (16 KiB) on both protocols');
  }
  const server =
    options.http2 === true
      ? createSecureServer(
          {
            ...tlsOptions,
            ...(http.pauseOnConnect === undefined ? {} : { pauseOnConnect: http.pauseOnConnect }),
            allowHTTP1: true,
            ALPNProtocols: ['h2', 'http/1.1'],
            settings: { maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS, maxHeaderListSize: DEFAULT_MAX_HEADER_SIZE },
          },
          handler as DualProtocolHandler,
        )
      : createServer({ ...tlsOptions, ...h1Options }, handler);
  if (options.http2 === true && options.keepAliveTimeoutMs !== undefined) server.setTimeout(options.keepAliveTimeoutMs);
  if (options.http2 === true) closesSessions(server as Http2SecureServer);
  const h1 = server as Partial<Pick<Server, 'keepAliveTimeout' | 'headersTimeout'>>;
  // Node's HTTP/2 server runs its HTTP/1.1 connections through the HTTP/1.1 server's code, which
  // reads these two from the server object (it sets both for allowHTTP1).
  if (options.keepAliveTimeoutMs !== undefined) h1.keepAliveTimeout = options.keepAliveTimeoutMs;
  if (options.headersTimeoutMs !== undefined) h1.headersTimeout = options.headersTimeoutMs;
  // Before the HTTP layer's own listener: a client sends its first request along with the end of
  // its handshake, and a connection refused here must have nothing of it parsed, let alone run.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
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
