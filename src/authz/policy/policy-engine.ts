/**
 * The seam between the policy service and its Rego policy: what goes in, what comes out, and the
 * rule that anything the policy returns which does not fit the contract becomes a deny.
 */
import { z } from 'zod';
import { REASONS } from '../../shared/errors.js';
import type { Claims } from '../jwt/claims.js';
import { DECISION_DETAILS, statusOf } from '../reasons.js';

/** The wasm entrypoint, `package zt.authz` rule `decision`. */
export const POLICY_ENTRYPOINT = 'zt/authz/decision';

/** A workload identity, read from a certificate's SPIFFE ID and never from a client-set header. */
interface Identity {
  spiffe_id: string;
  region: string;
  kind: string;
  name: string;
}

/**
 * Everything the policy decides on (DESIGN.md, "Policy"), built by policy-input.ts. `path` is the
 * client's path without the `/check` prefix and without the query; `segments` is that path split
 * on `/` with empty parts dropped. The policy refuses a request whose segments disagree with its path.
 */
export interface PolicyInput {
  request: {
    method: string;
    path: string;
    segments: string[];
    query: Record<string, string | string[]>;
    headers: Record<string, string>;
    id: string;
  };
  edge: { spiffe_id: string; region: string };
  source: Identity | null;
  /** The verified claims, and whether the token is bound to the presenting certificate (token-binding.ts checked its `cnf`). */
  token: { claims: Claims; bound: boolean } | null;
  now_ms: number;
}

const positive = z.number().positive().finite();

/** One token bucket the service must charge, all of a request's buckets or none. */
export const LimitSchema = z.object({
  name: z.string().min(1),
  key: z.string().min(1),
  capacity: positive,
  refill_per_s: positive,
  cost: positive,
});
export type Limit = z.infer<typeof LimitSchema>;

/** The headers an allow must hand the rating API; it trusts them from edges only. */
export const UPSTREAM_HEADERS = ['x-zt-subject', 'x-zt-tenant', 'x-zt-roles', 'x-zt-client'] as const;

// The policy may only set x-zt-* headers, with values Node would accept (its own header check), so
// a strange claim becomes a deny here rather than a throw in the middle of a response.
const headerName = z.string().regex(/^x-zt-[a-z0-9-]+$/);
const headerValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/);

/**
 * The policy's answer. Beyond the field types it must be self-consistent: an allow is 200
 * `allowed` with every upstream header and the tier it charged; a deny is 401 or 403 with a deny
 * reason (and the status reasons.ts gives that reason, so the service and the policy never
 * disagree), no limits and no upstream headers; a detail goes with `invalid_token` only.
 */
export const PolicyDecisionSchema = z
  .object({
    allow: z.boolean(),
    status: z.number().int(),
    reason: z.enum(REASONS),
    limits: z.array(LimitSchema),
    upstream_headers: z.record(headerName, headerValue),
    detail: z.enum(DECISION_DETAILS),
    /** The tenant tier the limits were taken from (an allow's); '' on a deny. */
    tier: z.string(),
  })
  .superRefine((d, ctx) => {
    if (d.allow) {
      if (d.status !== 200 || d.reason !== 'allowed') {
        ctx.addIssue({ code: 'custom', message: `an allow must be 200 allowed, not ${d.status} ${d.reason}` });
      }
      if (d.tier === '') ctx.addIssue({ code: 'custom', path: ['tier'], message: 'an allow names the tier it charged' });
      const missing = UPSTREAM_HEADERS.filter((h) => d.upstream_headers[h] === undefined);
      if (missing.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['upstream_headers'], message: `an allow lacks ${missing.join(', ')}` });
      }
      return;
    }
    if (d.status !== 401 && d.status !== 403) {
      ctx.addIssue({ code: 'custom', path: ['status'], message: `a deny must be 401 or 403, not ${d.status}` });
    } else if (d.reason !== 'allowed' && d.status !== statusOf(d.reason)) {
      ctx.addIssue({ code: 'custom', path: ['status'], message: `${d.reason} is ${statusOf(d.reason)}, not ${d.status}` });
    }
    if (d.reason === 'allowed') ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a deny cannot be allowed' });
    if (d.detail !== '' && d.reason !== 'invalid_token') ctx.addIssue({ code: 'custom', path: ['detail'], message: 'only invalid_token carries a detail' });
    if (d.limits.length > 0) ctx.addIssue({ code: 'custom', path: ['limits'], message: 'a deny charges no buckets' });
    if (Object.keys(d.upstream_headers).length > 0) {
      ctx.addIssue({ code: 'custom', path: ['upstream_headers'], message: 'a deny forwards no headers' });
    }
  });
export type PolicyDecision = z.infer<typeof PolicyDecisionSchema>;

/** Evaluates the policy for one request. Never throws and never allows on an error. */
export interface PolicyEngine {
  evaluate(input: PolicyInput): PolicyDecision;
}

/** Called with the cause whenever an evaluation ends in `policy_error`, so the service can log it. */
export type PolicyErrorListener = (cause: unknown) => void;

/** The deny that stands in for any evaluation that failed or returned something off-contract. */
export function policyErrorDecision(): PolicyDecision {
  return { allow: false, status: 403, reason: 'policy_error', limits: [], upstream_headers: {}, detail: '', tier: '' };
}

// opa-wasm answers with a result set: one element per solution, each `{result}`. The decision rule
// is complete, so anything but exactly one solution is a broken build.
const ResultSetSchema = z.array(z.object({ result: z.unknown() })).length(1);

/** Why a raw result set was refused, in one line: the first few zod issues with their paths. */
export class PolicyOutputError extends Error {
  constructor(readonly issues: readonly z.core.$ZodIssue[]) {
    super(
      `policy output is off-contract: ${issues
        .slice(0, 3)
        .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
        .join('; ')}`,
    );
    this.name = 'PolicyOutputError';
  }
}

/**
 * Turns what opa-wasm's `evaluate` returned into a decision, or into the `policy_error` deny (and a
 * call to `onError`) when it is not exactly one decision that fits the contract.
 */
export function decisionFromResultSet(resultSet: unknown, onError?: PolicyErrorListener): PolicyDecision {
  const set = ResultSetSchema.safeParse(resultSet);
  if (!set.success) {
    onError?.(new PolicyOutputError(set.error.issues));
    return policyErrorDecision();
  }
  const decision = PolicyDecisionSchema.safeParse(set.data[0]?.result);
  if (!decision.success) {
    onError?.(new PolicyOutputError(decision.error.issues));
    return policyErrorDecision();
  }
  return decision.data;
}
