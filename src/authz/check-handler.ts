import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';
import { AppError, REASONS, errorMessage, type Reason } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { SpiffeId } from '../shared/spiffe.js';
import { BucketSpecError, BucketStoreUnavailableError } from './buckets/bucket-errors.js';
import type { BucketSpec, BucketStore, ChargeResult } from './buckets/bucket-store.js';
import { clientTarget, parseQuery, pathSegments } from './check-url.js';
import { clientFromXfcc } from './client-identity.js';
import type { Clock } from './clock.js';
import { logDecision } from './decision-log.js';
import { bearerChallenge, deny } from './deny.js';
import { edgePeer } from './edge-peer.js';
import type { TokenVerifier } from './jwt/token-verifier.js';
import type { AuthzMetrics } from './metrics.js';
import type { Claims, PolicyDecision, PolicyEngine, PolicyInput } from './policy/policy-engine.js';
import { remainingByBucket, setRateLimitHeaders } from './rate-limit-headers.js';

/** What a check handler needs; assembled by `buildApp`. */
export interface CheckHandlerDeps {
  readonly trustDomain: string;
  /** The `realm` of the missing-token challenge. */
  readonly realm: string;
  readonly policy: PolicyEngine;
  readonly verifier: TokenVerifier;
  readonly buckets: BucketStore;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly clock: Clock;
}

/** Per-request state the error middleware needs for the response and the decision log. */
interface CheckContext {
  readonly started: number;
  readonly requestId: string;
  edge: SpiffeId | undefined;
  source: SpiffeId | undefined;
  claims: Claims | undefined;
  path: string;
  buckets: Record<string, number>;
}

const REASON_SET: ReadonlySet<string> = new Set(REASONS);
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const BEARER = /^bearer(?: +|$)/i;
// RFC 6750 b64token: what a bearer credential may be made of.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// Headers the policy may see: information about the request, never the credentials.
const POLICY_HEADERS = ['host', 'x-request-id', 'content-type', 'content-length'] as const;
const EMPTY_BUCKETS: Record<string, number> = Object.freeze({});

/**
 * The ext_authz check (DESIGN.md, "Policy service"): peer must be an edge, client identity from the
 * last XFCC element, bearer token verified, policy evaluated, buckets charged, and one answer with
 * one decision log line. Every deny is thrown as an {@link AppError} and rendered by
 * {@link CheckHandler.errors}, registered last, which also turns anything unexpected into a
 * fail-closed 403 `policy_error`.
 */
export class CheckHandler {
  readonly #counters = new Map<string, { inc(): void }>();

  constructor(private readonly deps: CheckHandlerDeps) {}

  /** First middleware: only edges get any further. Also fixes the request id. */
  readonly gate = (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers['x-request-id'];
    const ctx: CheckContext = {
      started: performance.now(),
      requestId: typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID(),
      edge: undefined,
      source: undefined,
      claims: undefined,
      path: withoutQuery(req.url),
      buckets: EMPTY_BUCKETS,
    };
    res.locals.check = ctx;
    ctx.edge = edgePeer(req.socket as TLSSocket, this.deps.trustDomain);
    next(ctx.edge === undefined ? deny('untrusted_peer', 403) : undefined);
  };

  /** The check itself, for every method and every path under `/check`. */
  readonly check = async (req: Request, res: Response): Promise<void> => {
    const ctx = res.locals.check as CheckContext;
    const target = clientTarget(req.url);
    if (target === undefined) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-request-id': ctx.requestId });
      res.end(JSON.stringify({ error: 'not_found', request_id: ctx.requestId }));
      return;
    }
    ctx.path = target.path;
    const source = clientFromXfcc(req.headers['x-forwarded-client-cert'], this.deps.trustDomain);
    if (source === undefined) throw deny('no_client_cert', 403);
    ctx.source = source;
    const token = bearerToken(req.headers.authorization, this.deps.realm);
    if (token !== undefined) ctx.claims = await this.deps.verifier.verify(token);

    const edge = ctx.edge!;
    const input: PolicyInput = {
      request: {
        method: req.method,
        path: target.path,
        segments: pathSegments(target.path),
        query: parseQuery(target.rawQuery),
        headers: policyHeaders(req.headers),
        id: ctx.requestId,
      },
      edge: { spiffe_id: edge.uri, region: edge.region },
      source: { spiffe_id: source.uri, region: source.region, kind: source.kind, name: source.name },
      token: ctx.claims === undefined ? null : { claims: ctx.claims },
      now_ms: this.deps.clock.nowMs(),
    };
    const decision = this.deps.policy.evaluate(input);
    if (!decision.allow) {
      // The reasons the error middleware logs go through it. Any other deny is answered here, as
      // that middleware would answer it, without building an Error (and its stack) first.
      if (decision.reason === 'policy_error' || decision.reason === 'unavailable') throw this.#policyDeny(decision);
      this.#respond(res, ctx, decision.status, decision.reason, this.#policyDenyHeaders(decision));
      return;
    }

    const result = await this.#charge(decision);
    ctx.buckets = remainingByBucket(result.buckets);
    const headers: Record<string, string> = {};
    setRateLimitHeaders(headers, result);
    if (!result.allowed) throw deny('rate_limited', 429, { headers });
    Object.assign(headers, decision.upstream_headers);
    this.#respond(res, ctx, 200, 'allowed', headers);
  };

  /** The one error middleware, registered last: renders every deny and fails closed on the rest. */
  readonly errors = (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const ctx = (res.locals.check as CheckContext | undefined) ?? this.#bareContext(req);
    let reason: Reason;
    let status: number;
    let headers: Record<string, string>;
    if (err instanceof AppError && REASON_SET.has(err.code) && err.code !== 'allowed') {
      reason = err.code as Reason;
      // A policy error is a deny, never a 5xx (BucketSpecError carries 500 for other users).
      status = reason === 'policy_error' ? 403 : err.status;
      headers = { ...err.headers };
      if (reason === 'policy_error' || reason === 'unavailable') {
        const cause = err.cause ?? err;
        const details = cause instanceof AppError ? cause.details : undefined;
        this.deps.logger.warn({ request_id: ctx.requestId, reason, err: errorMessage(cause), details }, 'check failed');
      } else if (err.cause !== undefined) {
        this.deps.logger.debug({ request_id: ctx.requestId, reason, err: errorMessage(err.cause) }, 'check denied');
      }
    } else {
      reason = 'policy_error';
      status = 403;
      headers = {};
      this.deps.logger.error({ request_id: ctx.requestId, err: errorMessage(err) }, 'unexpected error in a check: denied');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#respond(res, ctx, status, reason, headers);
  };

  #policyDeny(decision: PolicyDecision): AppError {
    return deny(decision.reason, decision.status, { headers: this.#policyDenyHeaders(decision) });
  }

  #policyDenyHeaders(decision: PolicyDecision): Record<string, string> {
    const headers: Record<string, string> = {};
    if (decision.status === 401) {
      headers['www-authenticate'] = bearerChallenge(decision.reason === 'missing_token' ? 'missing_token' : 'invalid_token', this.deps.realm);
    }
    return headers;
  }

  async #charge(decision: PolicyDecision): Promise<ChargeResult> {
    const specs: BucketSpec[] = decision.limits.map((l) => ({ name: l.name, key: l.key, capacity: l.capacity, refillPerS: l.refill_per_s, cost: l.cost }));
    try {
      return await this.deps.buckets.charge(specs);
    } catch (err) {
      if (err instanceof BucketSpecError) throw deny('policy_error', 403, { cause: err });
      if (err instanceof BucketStoreUnavailableError) throw deny('unavailable', 503, { cause: err.cause ?? err });
      throw err;
    }
  }

  #respond(res: Response, ctx: CheckContext, status: number, reason: Reason, headers: Record<string, string>): void {
    headers['x-request-id'] = ctx.requestId;
    let body = '';
    if (status !== 200) {
      body = `{"error":"${reason}","request_id":${JSON.stringify(ctx.requestId)}}`;
      headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);

    const decision = status === 200 ? 'allow' : 'deny';
    const elapsedMs = performance.now() - ctx.started;
    this.#counter(reason, decision).inc();
    this.deps.metrics.duration.observe(elapsedMs / 1000);
    const claims = ctx.claims;
    logDecision(this.deps.logger, {
      request_id: ctx.requestId,
      subject: claims?.sub ?? null,
      tenant: claims?.tenant ?? null,
      tier: claims?.tier ?? null,
      client_spiffe_id: ctx.source?.uri ?? null,
      edge_region: ctx.edge?.region ?? null,
      method: res.req.method,
      path: ctx.path,
      decision,
      reason,
      status,
      buckets: ctx.buckets,
      latency_us: Math.round(elapsedMs * 1000),
    });
  }

  #counter(reason: string, decision: string): { inc(): void } {
    const key = `${reason}:${decision}`;
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      counter = this.deps.metrics.decisions.labels(reason, decision);
      this.#counters.set(key, counter);
    }
    return counter;
  }

  #bareContext(req: Request): CheckContext {
    return { started: performance.now(), requestId: randomUUID(), edge: undefined, source: undefined, claims: undefined, path: withoutQuery(req.url), buckets: EMPTY_BUCKETS };
  }
}

/**
 * The bearer token of an `Authorization` header. Undefined when there is none or another scheme
 * is used (→ `missing_token` from the policy); a Bearer credential that cannot be a token is an
 * `invalid_token` right here. Tokens anywhere else (a query parameter) are never looked at.
 */
function bearerToken(header: string | undefined, realm: string): string | undefined {
  if (header === undefined || !BEARER.test(header)) return undefined;
  const token = header.slice(6).trim();
  if (!B64TOKEN.test(token)) {
    throw deny('invalid_token', 401, { headers: { 'www-authenticate': bearerChallenge('invalid_token', realm) } });
  }
  return token;
}

/** The URL without its query: what the log may show of a request it could not place (a query may hold secrets). */
function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function policyHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of POLICY_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}
