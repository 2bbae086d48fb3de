/**
 * The edge's route to the rating API (envoy.yaml's `rating_api` cluster), through
 * http-proxy-middleware. The request body streams through untouched; the router's own headers are
 * added both ways (the deadline upstream; `server` and `x-envoy-upstream-service-time` to the
 * client); errors are answered the way Envoy's router answers them, byte for byte (503 `UF` before
 * any response byte, 504 `UT` on the route timeout).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import type { Logger } from '../shared/logger.js';
import { accessRecord } from './access-log.js';
import { EXPECTED_TIMEOUT_HEADER, hopByHopHeaders, SERVER_NAME } from './envoy-headers.js';
import type { PeerAgent } from './peer-agent.js';

/** The cluster name the access log reports, as Envoy's %UPSTREAM_CLUSTER% does. */
export const RATING_CLUSTER = 'rating_api';

/** Response headers to add once the upstream answers: authz's allowed_client_headers_on_success. */
const successHeaders = new WeakMap<IncomingMessage, Readonly<Record<string, string | string[]>>>();
const timedOut = new WeakSet<IncomingMessage>();

/** Remembers headers authz allowed for the client's response, to add when the upstream answers. */
export function addOnSuccess(req: IncomingMessage, headers: Readonly<Record<string, string | string[]>>): void {
  successHeaders.set(req, headers);
}

/**
 * A proxy to `target` over the current agent of `peer`. A new http-proxy-middleware instance is
 * made when the agent changes (a certificate rotation), so new requests present the new
 * certificate while requests in flight finish on the old agent.
 */
export function upstreamProxy(target: URL, peer: PeerAgent, routeTimeoutMs: number, log: Logger): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  let current: { agent: Agent; proxy: RequestHandler } | undefined;
  return async (req, res) => {
    const agent = peer.agent;
    if (current?.agent !== agent) current = { agent, proxy: build(target, agent, routeTimeoutMs, log) };
    await current.proxy(req, res);
  };
}

function build(target: URL, agent: Agent, routeTimeoutMs: number, log: Logger): RequestHandler {
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: target.origin,
    agent,
    // Envoy keeps the client's Host (no host_rewrite) and sets x-forwarded-* itself; so does the edge.
    changeOrigin: false,
    xfwd: false,
    proxyTimeout: routeTimeoutMs,
    on: {
      proxyReq: (proxyReq, req) => {
        const r = accessRecord(req);
        r.upstreamCluster = RATING_CLUSTER;
        r.upstreamHost = target.host;
        r.upstreamStartedAt = performance.now();
        for (const name of hopByHopHeaders(req.headers)) proxyReq.removeHeader(name);
        proxyReq.setHeader(EXPECTED_TIMEOUT_HEADER, String(routeTimeoutMs));
        proxyReq.once('timeout', () => timedOut.add(req));
      },
      proxyRes: (proxyRes, req) => routerResponseHeaders(req, proxyRes.headers),
      error: (err, req, res) => onProxyError(err, req, res, log),
    },
  });
}

/**
 * What the router does to the upstream's response headers, in place: `server` overwritten, the
 * upstream service time added (not to a 101: Envoy adds none to an upgrade's), and authz's
 * allowed_client_headers_on_success appended to whatever the upstream sent (as Envoy does).
 */
export function routerResponseHeaders(req: IncomingMessage, headers: IncomingHttpHeaders, options: { upgraded?: boolean } = {}): void {
  const r = accessRecord(req);
  if (r.upstreamStartedAt !== undefined && options.upgraded !== true) r.upstreamServiceTimeMs = Math.round(performance.now() - r.upstreamStartedAt);
  headers.server = SERVER_NAME;
  if (r.upstreamServiceTimeMs !== undefined) headers['x-envoy-upstream-service-time'] = String(r.upstreamServiceTimeMs);
  for (const [name, value] of Object.entries(successHeaders.get(req) ?? {})) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...[existing].flat(), ...[value].flat()];
  }
}

/** Marks a request whose upstream did not answer within the route timeout (its error is then a 504 `UT`). */
export function markTimedOut(req: IncomingMessage): void {
  timedOut.add(req);
}

/** Answers an upstream failure as Envoy's router does: 503 `UF` before any response byte, 504 `UT` on the route timeout. */
export function onProxyError(err: Error, req: IncomingMessage, res: ServerResponse | Socket, log: Logger): void {
  const r = accessRecord(req);
  const timeout = timedOut.has(req);
  r.flags.push(timeout ? 'UT' : 'UF');
  // Envoy reports a refused connection and a refused certificate alike: a remote connection failure.
  r.details = timeout ? 'response_timeout' : 'upstream_reset_before_response_started{remote_connection_failure}';
  log.warn({ request_id: r.requestId, upstream_cluster: RATING_CLUSTER, err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upstream request failed');
  if (!('writeHead' in res) || res.headersSent) {
    // Part of the response is out; all that is left is to cut it, as Envoy resets the stream.
    res.destroy();
    return;
  }
  const body = timeout ? 'upstream request timeout' : 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure';
  res.statusCode = timeout ? 504 : 503;
  res.setHeader('server', SERVER_NAME);
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
