/**
 * The dev edge: a development stand-in for one regional Envoy, reproducing envoy/envoy.yaml
 * behaviour for behaviour. Per request, in Envoy's order:
 *   1. mTLS: a client certificate from the internal CA carrying a client SPIFFE ID (the listener's
 *      SAN matcher), else no connection;
 *   2. path hygiene (escaped slashes rejected, dot segments and doubled slashes normalised) and
 *      headers with underscores rejected;
 *   3. client-supplied x-zt-* and XFCC removed; XFCC set (SANITIZE_SET); x-request-id minted;
 *   4. ext_authz over mTLS, failing closed; a denial is passed through as authz wrote it;
 *   5. the allowed request proxied to the rating API over mTLS, its body streamed untouched.
 * `buildApp` never listens; main (or a test) does.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { buildAdminApp } from '../shared/admin.js';
import { AppError, ConfigError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { formatXfccElement } from '../shared/xfcc.js';
import { accessRecord, countBodyBytes, logAccess } from './access-log.js';
import { AuthzClient } from './authz-check.js';
import { clientCertOf, type ClientCert } from './client-cert.js';
import type { EdgeConfig } from './config.js';
import { normalizePath } from './normalize-path.js';
import { PeerAgent } from './peer-agent.js';
import { addOnSuccess, RATING_CLUSTER, upstreamProxy } from './upstream-proxy.js';

export interface EdgeDeps {
  /** Default: a pino logger for service `edge` with the region bound. */
  readonly logger?: Logger;
}

/** The values the edge runs with, as `/config_dump` on the admin listener reports them. */
export interface EdgeBehaviour {
  readonly region: string;
  readonly self: string;
  readonly envoyConfigFile: string;
  readonly authz: EdgeConfig['envoy']['authz'] & { readonly url: string; readonly spiffeId: string };
  readonly removedRequestHeaderPrefixes: readonly string[];
  readonly xfcc: EdgeConfig['envoy']['xfcc'];
  readonly upstream: { readonly url: string; readonly spiffeId: string; readonly routeTimeoutMs: number };
}

export interface Edge {
  /** The mTLS listener, not listening yet. */
  readonly server: Server;
  /** The request handler behind `server`. */
  readonly app: Express;
  /** The plain-HTTP admin app: /healthz, /readyz, /config_dump. */
  readonly admin: Express;
  readonly behaviour: EdgeBehaviour;
  /** Releases the upstream agents and stops following rotations. Close the servers first. */
  close(): void;
}

const XFCC = 'x-forwarded-client-cert';

/** Builds the edge for `config`; the caller listens on `server` and serves `admin`. */
export function buildApp(config: EdgeConfig, deps: EdgeDeps = {}): Edge {
  const log = deps.logger ?? createLogger('edge', { level: config.logLevel, bindings: { region: config.region } });
  const { envoy, tls } = config;
  const authzAgent = new PeerAgent(tls, config.authzSpiffeId, sniFor(config.authzUrl));
  const ratingAgent = new PeerAgent(tls, config.ratingSpiffeId, sniFor(config.ratingUrl));
  const authz = new AuthzClient(config.authzUrl, envoy.authz, () => authzAgent.agent);
  // The dev edge has one upstream, the rating API: envoy.yaml's routes must all go to its cluster.
  const routes = envoy.routes;
  const foreign = routes.find((r) => r.cluster !== RATING_CLUSTER);
  if (routes.length === 0 || foreign !== undefined) {
    throw new ConfigError('envoy_config', `${config.envoyConfigFile}: the dev edge routes only to the ${RATING_CLUSTER} cluster; found ${foreign?.cluster ?? 'no route'}`);
  }
  const routeTimeoutMs = routes[0]?.timeoutMs ?? 0;
  if (routes.some((r) => r.timeoutMs !== routeTimeoutMs)) {
    throw new ConfigError('envoy_config', `${config.envoyConfigFile}: the dev edge needs one timeout for every route to ${RATING_CLUSTER}`);
  }
  const proxy = upstreamProxy(config.ratingUrl, ratingAgent, routeTimeoutMs, log);
  const clients = new WeakMap<TLSSocket, ClientCert>();

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(async (req: Request, res: Response) => {
    const record = accessRecord(req);
    // Minted first, so that even a request refused below has an id in the access log.
    record.requestId = randomUUID();
    logAccess(log, config.self.uri, req, res);
    countBodyBytes(req);
    const client = clients.get(req.socket as TLSSocket);
    record.clientSpiffeId = client?.spiffeId?.uri;
    if (client?.spiffeId === undefined) {
      // Unreachable while secureConnection below does its job; never serve an unidentified peer.
      req.socket.destroy();
      return;
    }
    if (Object.keys(req.headers).some((name) => name.includes('_'))) {
      localReply(res, 400, 'http1.unexpected_underscore');
      return;
    }
    const path = normalizePath(req.url);
    if (!path.ok) {
      localReply(res, 400, path.details);
      return;
    }
    req.url = path.pathAndQuery;
    sanitize(req, client);

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
      res.setHeader('content-length', outcome.body.length);
      res.end(outcome.body);
      return;
    }
    // The client went away while authz decided: there is nobody to answer, so nothing to forward.
    if (req.socket.destroyed) return;
    // allowed_upstream_headers replace whatever the request carries under those names.
    for (const [name, value] of Object.entries(outcome.upstreamHeaders)) req.headers[name] = value;
    // The router runs after ext_authz: a path no route matches is Envoy's 404 `NR`.
    if (!routes.some((r) => req.url.startsWith(r.prefix))) {
      record.flags.push('NR');
      localReply(res, 404, 'route_not_found');
      return;
    }
    addOnSuccess(req, outcome.clientHeaders);
    record.details = 'via_upstream';
    await proxy(req, res);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err instanceof AppError ? err : new AppError('internal_error', 500, 'internal error', { cause: err });
    const requestId = accessRecord(req).requestId;
    log.warn({ request_id: requestId, code: e.code, details: e.details, err: causeMessage(e) }, 'local reply');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(e.status).set(e.headers).json({ error: e.code, request_id: requestId ?? null });
  });

  /**
   * Sets what Envoy's connection manager sets before any filter: client-supplied x-zt-* (the
   * header_mutation filter) and XFCC are dropped, XFCC is set from the verified certificate, the
   * request id is minted (preserve_external_request_id: false) and x-forwarded-* are set as for an
   * edge request (use_remote_address: true).
   */
  function sanitize(req: IncomingMessage, client: ClientCert): void {
    for (const name of Object.keys(req.headers)) {
      if (name === XFCC || envoy.removedRequestHeaderPrefixes.some((p) => name.startsWith(p))) delete req.headers[name];
    }
    req.headers[XFCC] = formatXfccElement({
      by: config.self.uri,
      hash: client.hash,
      subject: envoy.xfcc.subject ? client.subject : '',
      uri: envoy.xfcc.uri ? client.uris : [],
    });
    req.headers['x-request-id'] = accessRecord(req).requestId;
    req.headers['x-forwarded-proto'] = 'https';
    const remote = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    req.headers['x-forwarded-for'] = [...[xff ?? []].flat(), remote].join(',');
    // Envoy answers 100-continue itself and does not pass Expect upstream; Node already answered.
    delete req.headers.expect;
  }

  const server = createServer(
    { cert: tls.material.cert, key: tls.material.key, ca: tls.material.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    app,
  );
  tls.attachServer(server, { minVersion: 'TLSv1.2' });
  server.on('secureConnection', (socket: TLSSocket) => {
    // envoy.yaml's listener admits only client SPIFFE IDs of the trust domain; Node has no SAN
    // matcher in the handshake, so the connection is refused right after it, before any request.
    const client = clientCertOf(socket, config.trustDomain);
    if (client?.spiffeId === undefined) {
      log.warn({ peer_uri_sans: client?.uris ?? [], remote: socket.remoteAddress }, 'refused a peer that is not a client of the trust domain');
      socket.destroy();
      return;
    }
    clients.set(socket, client);
  });
  server.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
  });

  const behaviour: EdgeBehaviour = Object.freeze({
    region: config.region,
    self: config.self.uri,
    envoyConfigFile: config.envoyConfigFile,
    authz: Object.freeze({ ...envoy.authz, url: config.authzUrl.href, spiffeId: config.authzSpiffeId }),
    removedRequestHeaderPrefixes: envoy.removedRequestHeaderPrefixes,
    xfcc: envoy.xfcc,
    upstream: Object.freeze({ url: config.ratingUrl.href, spiffeId: config.ratingSpiffeId, routeTimeoutMs }),
  });

  const admin = express();
  admin.disable('x-powered-by');
  // Envoy's admin /config_dump, reduced to what the dev edge takes from envoy.yaml.
  admin.get('/config_dump', (_req, res) => {
    res.json(behaviour);
  });
  admin.use(
    buildAdminApp([
      { name: 'listener', ready: () => server.listening },
      { name: 'certificate', ready: () => certValidNow(tls.material.cert) },
    ]),
  );

  return {
    server,
    app,
    admin,
    behaviour,
    close() {
      authzAgent.close();
      ratingAgent.close();
    },
  };
}

/** An Envoy-style local reply: the status, an empty body, the reason in the access log. */
function localReply(res: ServerResponse, status: number, details: string): void {
  const r = accessRecord(res.req);
  r.details = details;
  res.statusCode = status;
  res.setHeader('content-length', 0);
  res.setHeader('connection', 'close');
  res.end();
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
