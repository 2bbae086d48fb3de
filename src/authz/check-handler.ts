import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, Response } from 'express';
import { errorMessage } from '../shared/errors.js';
import { bearerToken } from '../shared/http/bearer-token.js';
import { sendError } from '../shared/http/error-body.js';
import { requestIdFrom } from '../shared/http/request-id.js';
import type { Logger } from '../shared/logger.js';
import type { SpiffeId } from '../shared/spiffe.js';
import type { BucketSpec, BucketStore } from './buckets/bucket-store.js';
import { clientTarget } from './check-url.js';
import { clientFromXfcc } from './client-identity.js';
import type { Clock } from './clock.js';
import { logDecision } from './decision-log.js';
import type { Claims } from './jwt/claims.js';
import type { TokenVerifier } from './jwt/token-verifier.js';
import type { AuthzMetrics } from './metrics.js';
import type { Limit, PolicyDecision, PolicyEngine } from './policy/policy-engine.js';
import { policyInput } from './policy-input.js';
import { remainingByBucket, setRateLimitHeaders } from './rate-limit-headers.js';
import { challengeOf, Denial, detailDescription, statusOf, type AuthzReason, type DenyReason } from './reasons.js';
import { edgeOfCheck } from './stream-recheck.js';
import { tokenBinding } from './token-binding.js';

/** What a check handler needs; assembled by `buildApp`. */
export interface CheckHandlerDeps {
  readonly trustDomain: string;
  /** The rating API's SPIFFE ID, which may re-check a stream's token (stream-recheck.ts). */
  readonly streamRecheckPeer: string | undefined;
  /** The `realm` of the missing-token challenge. */
  readonly realm: string;
  readonly policy: PolicyEngine;
  readonly verifier: TokenVerifier;
  readonly buckets: BucketStore;
  readonly logger: Logger;
  readonly metrics: AuthzMetrics;
  readonly clock: Clock;
}

/** Per-request state the answer and the decision line need. */
interface CheckContext {
  readonly started: number;
  readonly requestId: string;
  edge: SpiffeId | undefined;
  source: SpiffeId | undefined;
  claims: Claims | undefined;
  /** The tenant tier the policy charged (an allow's), for the decision line. */
  tier: string | undefined;
  path: string;
  buckets: Record<string, number>;
}

const EMPTY_BUCKETS: Record<string, number> = Object.freeze({});

/**
 * The ext_authz check (DESIGN.md, "Policy service"), as its steps: the peer must be an edge, the
 * request must be a check, the client comes from the last XFCC element, the bearer token is
 * verified, the policy decides, the buckets are charged, and one answer goes out with one decision
 * line and one count.
 *
 * An allow leaves through `#allow`, every deny through `#deny`, the one exit that takes the
 * status, body and challenge from reasons.ts, writes the decision line and counts it. The steps
 * hand a deny they know the reason of to it directly; a {@link Denial} thrown by a component
 * (token verifier, bucket store) and anything unexpected reach {@link CheckHandler.errors},
 * registered last, which logs the cause and hands the deny to the same exit (anything unexpected
 * fails closed as `policy_error`).
 */
export class CheckHandler {
  readonly #counters = new Map<string, { inc(): void }>();

  constructor(private readonly deps: CheckHandlerDeps) {}

  /** The check, for every method and path: the one request handler of the check app. */
  readonly check = async (req: Request, res: Response): Promise<void> => {
    const ctx = this.#context(req, res);
    const edge = edgeOfCheck(req, this.deps.trustDomain, this.deps.streamRecheckPeer);
    if (edge === undefined) return this.#deny(res, ctx, 'untrusted_peer');
    ctx.edge = edge;

    const target = clientTarget(req.url);
    if (target === undefined) return this.#deny(res, ctx, 'not_found');
    ctx.path = target.path;

    const client = clientFromXfcc(req.headers['x-forwarded-client-cert'], this.deps.trustDomain);
    if (client === undefined) return this.#deny(res, ctx, 'no_client_cert');
    const source = client.id;
    ctx.source = source;

    // Authorization, or a WebSocket handshake's bearer.<token> subprotocol; never the query string.
    const bearer = bearerToken(req.headers);
    if (bearer.kind === 'invalid') throw new Denial('invalid_token', { cause: new Error(bearer.why) });
    let bound = false;
    if (bearer.kind === 'token') {
      ctx.claims = await this.deps.verifier.verify(bearer.token);
      const binding = tokenBinding(ctx.claims, client.certSha256);
      if ('problem' in binding) throw new Denial('invalid_token', { description: binding.problem });
      bound = binding.bound;
    }

    const input = policyInput({ method: req.method, target, headers: req.headers, requestId: ctx.requestId, edge, source, claims: ctx.claims, bound, nowMs: this.deps.clock.nowMs() });
    const decision = this.deps.policy.evaluate(input);
    if (!decision.allow) {
      const reason = denyReasonOf(decision);
      // These two are failures rather than verdicts: the error exit logs them.
      if (reason === 'policy_error' || reason === 'unavailable') throw new Denial(reason);
      return this.#deny(res, ctx, reason, {}, detailDescription(decision.detail));
    }
    ctx.tier = decision.tier;

    // A bucket store rejects with a Denial only (policy_error for unusable specs, or unavailable).
    const charged = await this.deps.buckets.charge(decision.limits.map(bucketSpec));
    ctx.buckets = remainingByBucket(charged.buckets);
    const headers: Record<string, string> = {};
    setRateLimitHeaders(headers, charged);
    if (!charged.allowed) return this.#deny(res, ctx, 'rate_limited', headers);
    this.#allow(res, ctx, Object.assign(headers, decision.upstream_headers));
  };

  /** The one error middleware, registered last: logs the cause of a deny and fails closed on the rest. */
  readonly errors = (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const ctx = this.#context(req, res);
    let reason: DenyReason;
    if (err instanceof Denial) {
      reason = err.code;
      if (reason === 'policy_error' || reason === 'unavailable') {
        const cause = err.cause ?? err;
        const details = cause instanceof Denial ? cause.details : undefined;
        this.deps.logger.warn({ request_id: ctx.requestId, reason, err: errorMessage(cause), details }, 'check failed');
      } else if (err.cause !== undefined) {
        this.deps.logger.debug({ request_id: ctx.requestId, reason, err: errorMessage(err.cause) }, 'check denied');
      }
    } else {
      reason = 'policy_error';
      this.deps.logger.error({ request_id: ctx.requestId, err: errorMessage(err) }, 'unexpected error in a check: denied');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#deny(res, ctx, reason, {}, err instanceof Denial ? err.description : undefined);
  };

  /** The check's state, made on first use: the request id is fixed here, once. */
  #context(req: Request, res: Response): CheckContext {
    let ctx = res.locals.check as CheckContext | undefined;
    if (ctx === undefined) {
      ctx = {
        started: performance.now(),
        requestId: requestIdFrom(req.headers['x-request-id']),
        edge: undefined,
        source: undefined,
        claims: undefined,
        tier: undefined,
        path: withoutQuery(req.url),
        buckets: EMPTY_BUCKETS,
      };
      res.locals.check = ctx;
    }
    return ctx;
  }

  /** The exit of every allow: 200 with the upstream and rate-limit headers, no body. */
  #allow(res: Response, ctx: CheckContext, headers: Record<string, string>): void {
    headers['x-request-id'] = ctx.requestId;
    headers['content-length'] = '0';
    res.writeHead(200, headers);
    res.end();
    this.#record(res, ctx, 'allowed', 200);
  }

  /**
   * The exit of every deny: the reason's status, its challenge if it is a 401 (with `description`
   * as its `error_description`), `headers` (rate limits), the `{error, request_id}` body, one
   * decision line and one count.
   */
  #deny(res: Response, ctx: CheckContext, reason: DenyReason, headers: Record<string, string> = {}, description?: string): void {
    const challenge = challengeOf(reason, this.deps.realm, description);
    if (challenge !== undefined) headers['www-authenticate'] = challenge;
    const status = statusOf(reason);
    sendError(res, status, reason, ctx.requestId, headers);
    this.#record(res, ctx, reason, status);
  }

  #record(res: Response, ctx: CheckContext, reason: AuthzReason, status: number): void {
    const decision = status === 200 ? 'allow' : 'deny';
    const elapsedMs = performance.now() - ctx.started;
    this.#counter(reason, decision).inc();
    // The histogram times checks; a request outside /check is none.
    if (reason !== 'not_found') this.deps.metrics.duration.observe(elapsedMs / 1000);
    const claims = ctx.claims;
    logDecision(this.deps.logger, {
      request_id: ctx.requestId,
      subject: claims?.sub ?? null,
      tenant: claims?.tenant ?? null,
      // The tier the limits came from (the tenant's, in data.json), not the token's claim.
      tier: ctx.tier ?? null,
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

  #counter(reason: AuthzReason, decision: 'allow' | 'deny'): { inc(): void } {
    const key = `${reason}:${decision}`;
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      counter = this.deps.metrics.decisions.labels(reason, decision);
      this.#counters.set(key, counter);
    }
    return counter;
  }
}

function bucketSpec(limit: Limit): BucketSpec {
  return { name: limit.name, key: limit.key, capacity: limit.capacity, refillPerS: limit.refill_per_s, cost: limit.cost };
}

/** A policy deny's reason; the decision contract (policy-engine.ts) rules out `allowed`. */
function denyReasonOf(decision: PolicyDecision): DenyReason {
  return decision.reason === 'allowed' ? 'policy_error' : decision.reason;
}

/** The URL without its query: what the log may show of a request it could not place (a query may hold secrets). */
function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
