/**
 * The dev edge's protections against slow, oversized and abusive clients, with envoy.yaml's
 * numbers (envoy-protections.ts) and Envoy's answers:
 * - the connection cap of the overload manager (`server.maxConnections`: a connection over it is
 *   closed at once, as Envoy closes it);
 * - `request_headers_timeout`: a request head not complete within it is answered 408 and the
 *   connection closed (Node's headers timer, checked every tenth of a second: see CHECK_INTERVAL_MS);
 * - `idle_timeout`: a connection with no request is closed after it (the keep-alive timeout);
 * - `max_request_headers_kb` and `max_headers_count`: 431, the connection closed;
 * - HTTP/1.0: 426, as Envoy refuses it unless `accept_http_10` is set;
 * - a request line or head the HTTP/1 parser refuses: 400, the connection closed;
 * - `stream_idle_timeout`: see {@link watchStreamIdle};
 * - no whole-request deadline, as envoy.yaml sets none (Node's default of 300 s is turned off).
 * And one thing Envoy needs no setting for: TLS handshakes are admitted a few at a time (see
 * {@link gateHandshakes}).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../shared/logger.js';
import type { MtlsHttpOptions } from '../shared/tls/mtls-server.js';
import { peerIdentity } from '../shared/tls/peer-identity.js';
import { logRawReply } from './access-log.js';
import type { EnvoyProtections } from './envoy-protections.js';
import type { LocalReplies, LocalReply } from './local-reply.js';

/**
 * How often Node looks for connections past the headers timeout, so a slow head is cut at most
 * this long after it. At a second, the cut fell anywhere in 10-11 s after the first byte and, on a
 * busy host, past the 11 s that Envoy keeps to (CI, 2026-12-01); the check walks the open
 * connections in C++, cheap at this rate even for the 2,000 of a burst.
 */
const CHECK_INTERVAL_MS = 100;

/**
 * TLS handshakes in progress at once. Node computes each one on the event loop the edge's every
 * other callback shares; a burst of thousands at once kept the loop busy for seconds, so that the
 * answers authz had already sent sat unread past their 250 ms deadline (503s from a healthy
 * authz). Connections beyond this wait, unread, in arrival order; Envoy spreads handshakes over its
 * worker threads instead.
 */
export const MAX_CONCURRENT_HANDSHAKES = 16;

/** A handshake that neither completes nor fails within this long gives its slot back anyway. */
const HANDSHAKE_SLOT_LIMIT_MS = 10_000;

/** The server options the protections need at creation (they cannot be set later). */
export function downstreamServerOptions(p: EnvoyProtections): MtlsHttpOptions {
  return { maxHeaderSize: p.maxRequestHeadersBytes, connectionsCheckingIntervalMs: CHECK_INTERVAL_MS, pauseOnConnect: true };
}

/** What {@link guardDownstream} reports to. */
export interface GuardDeps {
  readonly replies: LocalReplies;
  readonly log: Logger;
  /** The edge's own SPIFFE ID, for the access lines of requests refused before they were requests. */
  readonly selfSpiffeId: string;
  readonly trustDomain: string;
}

/** Applies the protections to the edge's listener (created with {@link downstreamServerOptions}). */
export function guardDownstream(server: Server, p: EnvoyProtections, deps: GuardDeps): void {
  if (p.maxDownstreamConnections !== undefined) server.maxConnections = p.maxDownstreamConnections;
  server.requestTimeout = 0;
  server.headersTimeout = p.requestHeadersTimeoutMs;
  server.keepAliveTimeout = p.idleTimeoutMs;
  // One more than the limit, so that a request over it can be told from one at it (Node drops the
  // headers past maxHeadersCount instead of refusing the request): see codecRefusal.
  server.maxHeadersCount = p.maxHeadersCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const reply = codecReply(err.code);
    // Nothing to answer: the client went away, or never sent a byte (Envoy would close such a
    // connection silently too, at its idle timeout).
    if (reply === undefined || !socket.writable || socket.bytesRead === 0) {
      socket.destroy();
      return;
    }
    const bytes = deps.replies.sendRaw(socket, reply);
    logRawReply(deps.log, deps.selfSpiffeId, socket as TLSSocket, peerIdentity(socket, deps.trustDomain)?.spiffeId?.uri, reply, bytes);
  });
  gateHandshakes(server, MAX_CONCURRENT_HANDSHAKES);
}

/** Envoy's answer to what Node's HTTP parser refused, by Node's error code. */
function codecReply(code: string | undefined): LocalReply | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, details: 'request_header_timeout', close: true, defaultBody: 'request headers timeout' };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, details: 'http1.headers_too_large', flags: ['DPE'], close: true, defaultBody: 'Request Header Fields Too Large' };
  if (code?.startsWith('HPE_') === true) return { status: 400, details: 'http1.codec_error', flags: ['DPE'], close: true, defaultBody: 'Bad Request' };
  return undefined;
}

/**
 * What Envoy's HTTP/1 codec refuses of a request Node parsed: more headers than
 * `max_headers_count` (431), or HTTP/1.0 (426: Envoy's `accept_http_10` is off by default and
 * envoy.yaml leaves it so). Undefined when the request is one Envoy takes.
 */
export function codecRefusal(req: IncomingMessage, p: EnvoyProtections): LocalReply | undefined {
  if (req.rawHeaders.length / 2 > p.maxHeadersCount) {
    return { status: 431, details: 'http1.too_many_headers', flags: ['DPE'], close: true, defaultBody: 'Request Header Fields Too Large' };
  }
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return { status: 426, details: 'low_version', flags: ['DPE'], close: true };
  return undefined;
}

/**
 * Envoy's `stream_idle_timeout` for one request: when neither the client nor the edge moves a byte
 * on it for `ms`, a request whose answer has not started gets 408 (flag SI) and the connection is
 * closed; one whose answer has started is cut. Any byte either way restarts the timer (it is the
 * socket's inactivity timer; after the answer, the keep-alive timeout takes it over).
 */
export function watchStreamIdle(req: IncomingMessage, res: ServerResponse, ms: number, replies: LocalReplies): void {
  if (ms <= 0) return;
  req.setTimeout(ms, () => {
    if (res.headersSent || res.writableEnded) {
      req.socket.destroy();
      return;
    }
    replies.send(res, { status: 408, details: 'stream_idle_timeout', flags: ['SI'], close: true, defaultBody: 'stream timeout' });
  });
}

/**
 * Lets at most `max` TLS handshakes run at once: the listener is created with `pauseOnConnect`, so
 * a new connection is not read until its turn, when it is handed to the TLS server's own connection
 * listener. A handshake's slot is freed when it completes or fails (or after a safety limit).
 */
function gateHandshakes(server: Server, max: number): void {
  const startTls = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  const waiting: Socket[] = [];
  const slots = new Map<Socket, () => void>();
  let inFlight = 0;
  const admit = (raw: Socket): void => {
    if (raw.destroyed) return;
    inFlight++;
    const limit = setTimeout(() => release(), HANDSHAKE_SLOT_LIMIT_MS);
    limit.unref();
    const release = (): void => {
      if (!slots.delete(raw)) return;
      clearTimeout(limit);
      inFlight--;
      for (let next = waiting.shift(); next !== undefined; next = waiting.shift()) {
        if (!next.destroyed) {
          admit(next);
          return;
        }
      }
    };
    slots.set(raw, release);
    for (const listener of startTls) listener.call(server, raw);
  };
  // The TLS socket wraps the raw one, which it keeps as `_parent` (Node's own field).
  const done = (tlsSocket: TLSSocket): void => {
    const raw = (tlsSocket as TLSSocket & { _parent?: Socket })._parent;
    if (raw !== undefined) slots.get(raw)?.();
  };
  server.on('secureConnection', done);
  server.on('tlsClientError', (_err: Error, tlsSocket: TLSSocket) => done(tlsSocket));
  server.on('connection', (raw: Socket) => {
    if (inFlight < max) admit(raw);
    else waiting.push(raw);
  });
}
