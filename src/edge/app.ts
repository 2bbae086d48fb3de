/**
 * The dev edge: a development stand-in for one regional Envoy, reproducing envoy/envoy.yaml
 * behaviour for behaviour (the edge integration suites run the same assertions through it and
 * through Envoy itself). Per request, in Envoy's order:
 *   1. mTLS: a client certificate from the internal CA carrying a client SPIFFE ID (the listener's
 *      SAN matcher), else no connection;
 *   2. the codec's limits and timeouts (downstream-guard.ts: head size and count, slow heads,
 *      idle streams and connections, the connection cap) and headers with underscores rejected,
 *      then path hygiene (escaped slashes and fragments rejected, dot segments and doubled
 *      slashes normalised);
 *   3. client-supplied x-zt-*, XFCC and Envoy's steering x-envoy-* removed; XFCC set
 *      (SANITIZE_SET); x-request-id minted;
 *   4. the local_ratelimit backstop (429 when its bucket is empty), then the route chosen: a path
 *      no route matches is a 404 and authz is never asked;
 *   5. ext_authz over mTLS, failing closed; a denial is passed through as authz wrote it;
 *   6. the allowed request proxied to the rating API over mTLS, its body streamed untouched.
 * Every answer the edge writes itself takes its body from envoy.yaml's local_reply_config
 * (local-reply.ts). `buildApp` never listens; main (or a test) does.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { AppError } from '../shared/errors.js';
import { buildAdminApp } from '../shared/http/admin-app.js';
import { serveUpgrades, upgradeOf } from '../shared/http/upgrade.js';
import type { BuiltApp } from '../shared/service.js';
import { createMtlsServer } from '../shared/tls/mtls-server.js';
import { peerIdentity, peerOfKind, type PeerIdentity } from '../shared/tls/peer-identity.js';
import type { TlsMaterial } from '../shared/tls/workload-tls.js';
import { formatXfccElement } from '../shared/xfcc.js';
import { accessRecord, countBodyBytes, logAccess } from './access-log.js';
import { AuthzClient } from './authz-check.js';
import { repliesBeforeBody } from './small-body-buffer.js';
import type { EdgeConfig } from './config.js';
import type { EdgeDeps } from './create-deps.js';
import { sanitizeExternalRequest, SERVER_NAME } from './envoy-headers.js';
import { codecRefusal, downstreamServerOptions, guardDownstream, watchStreamIdle } from './downstream-guard.js';
import { LocalReplies } from './local-reply.js';
import { LocalRateLimiter } from './local-rate-limit.js';
import { normalizePath } from './normalize-path.js';
import { PeerAgent } from './peer-agent.js';
import type { EdgeStats } from './stats.js';
import { addOnSuccess } from './success-headers.js';
import { upgradeProxy } from './upgrade-proxy.js';
import { RATING_CLUSTER, upstreamProxy } from './upstream-proxy.js';

/** The Envoy cluster envoy.yaml's ext_authz filter calls, for its stat names. */
const AUTHZ_CLUSTER = 'authz';

const XFCC = 'x-forwarded-client-cert';

/**
 * Builds a dev edge for `config`: the mTLS listener (`port`) and the plain-HTTP admin listener
 * (`admin_port`: /healthz, /readyz, and /stats with Envoy's counter names), not listening yet.
 * Certificate rotations and refused peers are logged here; `close()` releases the upstream agents.
 */
export function buildApp(config: EdgeConfig, deps: EdgeDeps): BuiltApp {
  const { logger: log, tls, stats } = deps;
  const { protections } = config.envoy;
  const replies = new LocalReplies(config.envoy.localReplies);
  const authzAgent = new PeerAgent(tls, config.authzSpiffeId, sniFor(config.authzUrl), verifyCounter(stats, AUTHZ_CLUSTER), protections.authzMaxConnections);
  const ratingAgent = new PeerAgent(tls, config.ratingSpiffeId, sniFor(config.ratingUrl), verifyCounter(stats, RATING_CLUSTER));
  const refused = (reason: string, socket: TLSSocket): void => {
    const peer = peerIdentity(socket, config.trustDomain);
    log.warn({ reason, peer_uri_sans: peer?.uris ?? [], remote: socket.remoteAddress }, 'refused a peer that is not a client of the trust domain');
  };
  const app = edgeApp(config, deps, replies, authzAgent, ratingAgent);
  const server = createMtlsServer(tls, app, {
    trustDomain: config.trustDomain,
    onRefused: refused,
    http: downstreamServerOptions(protections),
  });
  guardDownstream(server, protections, { replies, log, selfSpiffeId: config.spiffeId, trustDomain: config.trustDomain });
  // WebSocket handshakes take the same pipeline as any request (upgrade-proxy.ts at its end).
  serveUpgrades(server, app);
  // Envoy names a listener's stats after its address, which is known once it listens.
  const listenerStat = (): string => {
    const a = server.address() as AddressInfo | null;
    return `listener.${a?.address ?? 'unbound'}_${a?.port ?? 0}.ssl.fail_verify_san`;
  };
  server.on('listening', () => stats.declare(listenerStat()));
  server.on('secureConnection', (socket: TLSSocket) => {
    // envoy.yaml's listener admits only client SPIFFE IDs of the trust domain; Node has no SAN
    // matcher in the handshake, so the connection is refused right after it, before any request.
    if (socket.destroyed || peerOfKind(socket, config.trustDomain, 'client') !== undefined) return;
    stats.inc(listenerStat());
    refused('no client SPIFFE ID of the trust domain', socket);
    socket.destroy();
  });
  server.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
  });

  const admin = express();
  admin.disable('x-powered-by');
  // Envoy's admin /stats, reduced to the counters the dev edge keeps, in the same text format.
  admin.get('/stats', (_req, res) => {
    res.type('text/plain').send(stats.render());
  });
  admin.use(
    buildAdminApp([
      { name: 'listener', ready: () => server.listening },
      { name: 'certificate', ready: () => certValidNow(tls.material.cert) },
    ]),
  );

  const onRotated = (m: TlsMaterial, previous: string): void => log.info({ serial: m.serial, previous_serial: previous }, 'certificate rotated');
  const onTlsError = (err: Error): void => log.error({ err: err.message }, 'certificate reload failed; keeping the current one');
  tls.on('rotated', onRotated).on('error', onTlsError);
  return {
    listeners: [
      { name: 'port', server, at: config.listen },
      { name: 'admin_port', server: createServer(admin), at: config.adminListen },
    ],
    close() {
      tls.off('rotated', onRotated).off('error', onTlsError);
      authzAgent.close();
      ratingAgent.close();
      return Promise.resolve();
    },
  };
}

/** The request pipeline behind the mTLS listener, in Envoy's order (see the top of this file). */
function edgeApp(config: EdgeConfig, deps: EdgeDeps, replies: LocalReplies, authzAgent: PeerAgent, ratingAgent: PeerAgent): Express {
  const log = deps.logger;
  const { envoy } = config;
  const authz = new AuthzClient(config.authzUrl, envoy.authz, () => authzAgent.agent);
  const proxy = upstreamProxy(config.ratingUrl, ratingAgent, config.routeTimeoutMs, log, replies);
  const proxyUpgrade = upgradeProxy(config.ratingUrl, ratingAgent, config.routeTimeoutMs, log, replies);
  const backstop = envoy.protections.localRateLimit === undefined ? undefined : new LocalRateLimiter(envoy.protections.localRateLimit, deps.stats);

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(async (req: Request, res: Response) => {
    const record = accessRecord(req);
    logAccess(log, config.spiffeId, req, res);
    countBodyBytes(req);
    const client = peerIdentity(req.socket, config.trustDomain);
    if (client?.spiffeId?.kind !== 'client') {
      // Unreachable while the listener's secureConnection check does its job; never serve an unidentified peer.
      req.socket.destroy();
      return;
    }
    record.clientSpiffeId = client.spiffeId.uri;
    // The HTTP/1 codec's refusals, before Envoy has a request: no request id, the connection closed.
    const overLimit = codecRefusal(req, envoy.protections);
    const underscore = Object.keys(req.headers).some((name) => name.includes('_'));
    if (overLimit !== undefined || underscore) {
      record.codecError = true;
      replies.send(res, overLimit ?? { status: 400, details: 'http1.unexpected_underscore', flags: ['DPE'], close: true, defaultBody: 'Bad Request' });
      return;
    }
    const path = normalizePath(req.url);
    if (!path.ok) {
      // Envoy reports an escaped slash, a fragment and an unusable path alike, before it mints a request id.
      replies.send(res, { status: 400, details: 'path_normalization_failed', close: true });
      return;
    }
    req.url = path.pathAndQuery;
    record.requestId = randomUUID();
    sanitize(req, client);
    watchStreamIdle(req, res, envoy.protections.streamIdleTimeoutMs, replies);

    // The backstop runs as the first filter after the connection manager's own work.
    const limited = backstop?.admit();
    if (limited !== undefined) {
      // Envoy answers before a body it has not read (one the small-body buffer does not take) and
      // then closes the HTTP/1.1 connection; a body Node has not read is discarded either way.
      replies.send(res, repliesBeforeBody(req.headers, envoy.protections.smallBodyBuffer) ? { ...limited, close: true } : limited);
      return;
    }

    // Envoy's ext_authz does not ask about a request that has nowhere to go, so a path no route
    // matches is the router's 404 `NR` at once.
    const route = envoy.routes.find((r) => req.url.startsWith(r.prefix));
    if (route === undefined) {
      replies.send(res, { status: 404, details: 'route_not_found', flags: ['NR'] });
      return;
    }
    record.upstreamCluster = route.cluster;
    // Envoy refuses an upgrade the route does not accept before any filter runs.
    if (upgradeOf(req) !== undefined && !route.upgrades.includes(String(req.headers.upgrade).toLowerCase())) {
      replies.send(res, { status: 403, details: 'upgrade_failed', close: true });
      return;
    }

    const outcome = await authz.check({ method: req.method, pathAndQuery: req.url, headers: req.headers });
    if (outcome.kind === 'error') {
      record.flags.push('UAEX');
      record.details = 'ext_authz_error';
      throw new AppError('unavailable', envoy.authz.statusOnError, 'the policy service is unavailable', { cause: outcome.error, details: { reason: outcome.reason } });
    }
    if (outcome.kind === 'denied') {
      record.flags.push('UAEX');
      record.details = 'ext_authz_denied';
      res.statusCode = outcome.status;
      for (const [name, value] of Object.entries(outcome.headers)) res.setHeader(name, value);
      res.setHeader('server', SERVER_NAME);
      res.setHeader('content-length', outcome.body.length);
      res.end(outcome.body);
      return;
    }
    // The client went away while authz decided: there is nobody to answer, so nothing to forward.
    if (req.socket.destroyed) return;
    // allowed_upstream_headers replace whatever the request carries under those names.
    for (const [name, value] of Object.entries(outcome.upstreamHeaders)) req.headers[name] = value;
    addOnSuccess(req, outcome.clientHeaders);
    record.details = 'via_upstream';
    await (upgradeOf(req) === undefined ? proxy(req, res) : proxyUpgrade(req, res));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err instanceof AppError ? err : new AppError('internal_error', 500, 'internal error', { cause: err });
    const record = accessRecord(req);
    log.warn({ request_id: record.requestId, code: e.code, details: e.details, err: causeMessage(e) }, 'local reply');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The flags and details (UAEX, ext_authz_error) were noted where the failure was seen.
    replies.send(res, { status: e.status, details: record.details ?? 'internal_error', headers: e.headers });
  });

  /**
   * Sets what Envoy's connection manager sets before any filter: client-supplied x-zt-* (the
   * header_mutation filter), XFCC and the steering x-envoy-* headers are dropped, XFCC is set from
   * the verified certificate, the request id is minted (preserve_external_request_id: false) and
   * x-forwarded-* and x-envoy-external-address are set as for an edge request
   * (use_remote_address: true).
   */
  function sanitize(req: IncomingMessage, client: PeerIdentity): void {
    for (const name of Object.keys(req.headers)) {
      if (name === XFCC || envoy.removedRequestHeaderPrefixes.some((p) => name.startsWith(p))) delete req.headers[name];
    }
    const remote = req.socket.remoteAddress ?? '';
    sanitizeExternalRequest(req.headers, remote);
    req.headers[XFCC] = formatXfccElement({
      by: config.spiffeId,
      hash: client.hash,
      subject: envoy.xfcc.subject ? client.subject : '',
      uri: envoy.xfcc.uri ? client.uris : [],
      ...(envoy.xfcc.cert ? { cert: client.pem } : {}),
    });
    req.headers['x-request-id'] = accessRecord(req).requestId;
    req.headers['x-forwarded-proto'] = 'https';
    const xff = req.headers['x-forwarded-for'];
    req.headers['x-forwarded-for'] = [...[xff ?? []].flat(), remote].join(',');
    // Envoy answers 100-continue itself and does not pass Expect upstream; Node already answered.
    delete req.headers.expect;
  }

  return app;
}

/** Declares a cluster's upstream verification counters at 0 and returns what counts one failure. */
function verifyCounter(stats: EdgeStats, cluster: string): (failure: string) => void {
  stats.declare(`cluster.${cluster}.ssl.fail_verify_error`, `cluster.${cluster}.ssl.fail_verify_san`);
  return (failure) => stats.inc(`cluster.${cluster}.ssl.${failure}`);
}

function sniFor(url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? '' : host;
}

function certValidNow(pem: string): boolean {
  const cert = new X509Certificate(pem);
  const now = Date.now();
  return Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo);
}

function causeMessage(e: AppError): string | undefined {
  return e.cause instanceof Error ? e.cause.message : undefined;
}
