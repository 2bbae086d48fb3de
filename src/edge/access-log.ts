/**
 * The dev edge's access log: one JSON line per request, with the field names, meanings and value
 * types of envoy.yaml's `json_format`, so that a query or a dashboard over edge logs works for Envoy
 * and the dev edge alike. As in Envoy's JSON lines, a value that is missing is null, except
 * `response_flags`, which Envoy prints as `-` when there are none, and `upstream_service_time_ms`,
 * a string because Envoy takes it from the `x-envoy-upstream-service-time` header.
 * Two fields are the dev edge's own: `region` (Envoy's lines get it from the container's label) and
 * `start_time` (pino's `time` is when the line was written, Envoy's is when the request started).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../shared/logger.js';

/** What the request handlers note about one request as it goes, for its log line. */
export interface AccessRecord {
  requestId: string | undefined;
  /** Envoy's %RESPONSE_FLAGS%: UAEX (authz denied or failed), UF, UT, DC... */
  flags: string[];
  /** Envoy's %RESPONSE_CODE_DETAILS%. */
  details: string | undefined;
  clientSpiffeId: string | undefined;
  upstreamCluster: string | undefined;
  upstreamHost: string | undefined;
  upstreamStartedAt: number | undefined;
  upstreamServiceTimeMs: number | undefined;
  bytesReceived: number;
  /** What an upgraded stream sent the client past its 101 (Envoy counts those bytes as sent). */
  upgradedBytesSent: number;
  /**
   * The request was refused by the HTTP/1 codec (Envoy's `DPE`), before Envoy had a request: its
   * method, path, authority, user agent and request id are all logged as null.
   */
  codecError: boolean;
}

const records = new WeakMap<IncomingMessage, AccessRecord>();

/** The record of a request; created on first use. */
export function accessRecord(req: IncomingMessage): AccessRecord {
  let r = records.get(req);
  if (r === undefined) {
    r = {
      requestId: undefined,
      flags: [],
      details: undefined,
      clientSpiffeId: undefined,
      upstreamCluster: undefined,
      upstreamHost: undefined,
      upstreamStartedAt: undefined,
      upstreamServiceTimeMs: undefined,
      bytesReceived: 0,
      upgradedBytesSent: 0,
      codecError: false,
    };
    records.set(req, r);
  }
  return r;
}

/**
 * Counts request body bytes as they pass, without consuming the body: the listener is added to a
 * paused stream, and whoever pipes the body (the proxy) resumes it. A body nobody reads is
 * discarded by Node when the response ends, and counts as not received, as in Envoy.
 */
export function countBodyBytes(req: IncomingMessage): void {
  const record = accessRecord(req);
  req.on('data', (chunk: Buffer) => {
    record.bytesReceived += chunk.length;
  });
  req.pause();
}

/** Logs the request's access line when its response is done (sent, or the client went away). */
export function logAccess(log: Logger, selfSpiffeId: string, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  const startTime = new Date();
  let bytesSent = 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  // Body bytes sent, as Envoy's %BYTES_SENT%: count what passes through write/end.
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    bytesSent += byteLength(chunk);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') bytesSent += byteLength(chunk);
    return end(chunk, ...rest);
  }) as typeof res.end;

  res.once('close', () => {
    const r = accessRecord(req);
    const socket = req.socket as TLSSocket;
    if (!res.writableFinished && !r.flags.includes('DC')) r.flags.push('DC');
    const request = r.codecError ? undefined : req;
    log.info(
      {
        start_time: startTime.toISOString(),
        request_id: request === undefined ? null : (r.requestId ?? null),
        method: request?.method ?? null,
        path: request?.url ?? null,
        authority: request?.headers.host ?? null,
        protocol: `HTTP/${req.httpVersion}`,
        status: res.headersSent ? res.statusCode : 0,
        response_flags: r.flags.length > 0 ? r.flags.join(',') : '-',
        response_code_details: r.details ?? null,
        duration_ms: Math.round(performance.now() - started),
        upstream_service_time_ms: r.upstreamServiceTimeMs === undefined ? null : String(r.upstreamServiceTimeMs),
        upstream_cluster: r.upstreamCluster ?? null,
        upstream_host: r.upstreamHost ?? null,
        bytes_received: r.bytesReceived,
        bytes_sent: bytesSent + r.upgradedBytesSent,
        downstream_peer_uri_san: r.clientSpiffeId ?? null,
        downstream_local_uri_san: selfSpiffeId,
        downstream_remote_address: socket.remoteAddress ?? null,
        tls_version: typeof socket.getProtocol === 'function' ? socket.getProtocol() : null,
        user_agent: request?.headers['user-agent'] ?? null,
      },
      'access',
    );
  });
}

/** What {@link logRawReply} needs of a reply. */
interface RawReplyFacts {
  readonly status: number;
  readonly flags?: readonly string[];
  readonly details: string;
}

/**
 * The access line of an answer the HTTP parser made before there was a request (a head too large,
 * too slow or malformed): as Envoy logs its codec's refusals, with no method, path or request id.
 */
export function logRawReply(log: Logger, selfSpiffeId: string, socket: TLSSocket, clientSpiffeId: string | undefined, reply: RawReplyFacts, bytesSent: number): void {
  log.info(
    {
      start_time: new Date().toISOString(),
      request_id: null,
      method: null,
      path: null,
      authority: null,
      protocol: 'HTTP/1.1',
      status: reply.status,
      response_flags: reply.flags !== undefined && reply.flags.length > 0 ? reply.flags.join(',') : '-',
      response_code_details: reply.details,
      duration_ms: 0,
      upstream_service_time_ms: null,
      upstream_cluster: null,
      upstream_host: null,
      bytes_received: 0,
      bytes_sent: bytesSent,
      downstream_peer_uri_san: clientSpiffeId ?? null,
      downstream_local_uri_san: selfSpiffeId,
      downstream_remote_address: socket.remoteAddress ?? null,
      tls_version: typeof socket.getProtocol === 'function' ? socket.getProtocol() : null,
      user_agent: null,
    },
    'access',
  );
}

function byteLength(chunk: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  if (chunk instanceof Uint8Array) return chunk.length;
  return 0;
}
