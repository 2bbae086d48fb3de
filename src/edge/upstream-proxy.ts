/**
 * The edge's route to the rating API (envoy.yaml's `rating_api` cluster), through
 * http-proxy-middleware. The request body streams through untouched; the router's own headers are
 * added both ways (the deadline upstream; `server` and `x-envoy-upstream-service-time` to the
 * client); errors are answered the way Envoy's router answers them (503 `UF` before any response
 * byte, 504 `UT` on the route timeout), with the local reply body envoy.yaml gives them.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyMiddleware, type RequestHandler } from 'http-proxy-middleware';
import type { Logger } from '../shared/logger.js';
import { accessRecord } from './access-log.js';
import { EXPECTED_TIMEOUT_HEADER, hopByHopHeaders, SERVER_NAME } from './envoy-headers.js';
import type { LocalReplies } from './local-reply.js';
import { successHeaders } from './success-headers.js';
import type { PeerAgent } from './peer-agent.js';

/** The cluster name the access log reports, as Envoy's %UPSTREAM_CLUSTER% does. */
export const RATING_CLUSTER = 'rating_api';

const timedOut = new WeakSet<IncomingMessage>();

/**
 * A proxy to `target` over the current agent of `peer`. A new http-proxy-middleware instance is
 * made when the agent changes (a certificate rotation), so new requests present the new
 * certificate while requests in flight finish on the old agent.
 */
export function upstreamProxy(
  target: URL,
  peer: PeerAgent,
  routeTimeoutMs: number,
  log: Logger,
  replies: LocalReplies,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  let current: { agent: Agent; proxy: RequestHandler } | undefined;
  return async (req, res) => {
    const agent = peer.agent;
    if (current?.agent !== agent) current = { agent, proxy: build(target, agent, routeTimeoutMs, log, replies) };
    await current.proxy(req, res);
  };
}

function build(target: URL, agent: Agent, routeTimeoutMs: number, log: Logger, replies: LocalReplies): RequestHandler {
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: target.origin,
    agent,
    // Envoy keeps the client's Host (no host_rewrite) and sets x-forwarded-* itself; so does the edge.
    changeOrigin: false,
    xfwd: false,
    on: {
      proxyReq: (proxyReq, req) => {
        const r = accessRecord(req);
        r.upstreamCluster = RATING_CLUSTER;
        r.upstreamHost = target.host;
        r.upstreamStartedAt = performance.now();
        for (const name of hopByHopHeaders(req.headers)) proxyReq.removeHeader(name);
        proxyReq.setHeader(EXPECTED_TIMEOUT_HEADER, String(routeTimeoutMs));
        routeTimeout(proxyReq, req, routeTimeoutMs);
      },
      proxyRes: (proxyRes, req) => routerResponseHeaders(req, proxyRes.headers),
      error: (err, req, res) => onProxyError(err, req, res, log, replies),
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
  for (const [name, value] of Object.entries(successHeaders(req))) {
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...[existing].flat(), ...[value].flat()];
  }
}

/** Marks a request whose upstream did not answer within the route timeout (its error is then a 504 `UT`). */
export function markTimedOut(req: IncomingMessage): void {
  timedOut.add(req);
}

/**
 * Envoy's route timeout: from the end of the client's request (its whole body) until the upstream's
 * answer is complete. (http-proxy's own proxyTimeout would start with the request's headers, and
 * answer a client still sending its body 504 after 5 s, where Envoy waits for it, up to its stream
 * idle timeout.) Past it the upstream request is abandoned: 504 `UT`, or a cut answer once it began.
 */
function routeTimeout(proxyReq: ClientRequest, req: IncomingMessage, ms: number): void {
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => clearTimeout(timer);
  const arm = (): void => {
    timer = setTimeout(() => {
      timedOut.add(req);
      proxyReq.destroy(new Error(`no complete answer within the route timeout of ${ms} ms`));
    }, ms);
  };
  if (req.complete) arm();
  else req.once('end', arm);
  // A client request closes once its answer is complete, or when it fails.
  proxyReq.once('close', () => {
    req.off('end', arm);
    stop();
  });
}

/**
 * Answers an upstream failure as Envoy's router does: 503 `UF` before any response byte, 504 `UT`
 * on the route timeout, with envoy.yaml's local-reply body; a response already begun is cut.
 */
export function onProxyError(err: Error, req: IncomingMessage, res: ServerResponse | Socket, log: Logger, replies: LocalReplies): void {
  const r = accessRecord(req);
  const timeout = timedOut.has(req);
  log.warn({ request_id: r.requestId, upstream_cluster: RATING_CLUSTER, err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upstream request failed');
  if (!('writeHead' in res) || res.headersSent) {
    r.flags.push(timeout ? 'UT' : 'UF');
    // Part of the response is out; all that is left is to cut it, as Envoy resets the stream.
    res.destroy();
    return;
  }
  replies.send(
    res,
    timeout
      ? { status: 504, details: 'response_timeout', flags: ['UT'], defaultBody: 'upstream request timeout' }
      : {
          status: 503,
          // Envoy reports a refused connection and a refused certificate alike: a remote connection failure.
          details: 'upstream_reset_before_response_started{remote_connection_failure}',
          flags: ['UF'],
          defaultBody: 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure',
        },
  );
}
