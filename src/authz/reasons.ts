/**
 * Every answer the policy service gives, in one table: a reason code (the `error` of the body, the
 * `reason` of the decision line and of `authz_decisions_total`), its HTTP status, its public
 * message and, for a 401, its `www-authenticate` challenge (RFC 6750 §3). Call sites name a reason;
 * the status, the message and the challenge come from here only.
 */
import { AppError, type Reason } from '../shared/errors.js';

/**
 * DESIGN.md's reasons (the policy's, in errors.ts), plus `not_found`, which only this service
 * gives: a request outside `/check` is no check, so the policy never sees it.
 */
export type AuthzReason = Reason | 'not_found';

/** The reasons of a deny. */
export type DenyReason = Exclude<AuthzReason, 'allowed'>;

interface ReasonRow {
  readonly status: number;
  /** The only text a client could be shown; the body carries the reason code alone. */
  readonly message: string;
  /** The `www-authenticate` value of a 401, given the realm (JWT_AUDIENCE). */
  readonly challenge?: (realm: string) => string;
}

// A bare realm when no token came; the invalid_token error code when one came and failed.
const INVALID_TOKEN = 'Bearer error="invalid_token"';

const REASON_TABLE: Readonly<Record<AuthzReason, ReasonRow>> = {
  allowed: { status: 200, message: 'allowed' },
  missing_token: { status: 401, message: 'a bearer token is required', challenge: (realm) => `Bearer realm="${realm}"` },
  invalid_token: { status: 401, message: 'the bearer token is not valid', challenge: () => INVALID_TOKEN },
  token_expired: { status: 401, message: 'the bearer token has expired', challenge: () => `${INVALID_TOKEN}, error_description="the token has expired"` },
  no_client_cert: { status: 403, message: 'no verified client certificate' },
  untrusted_peer: { status: 403, message: 'only edges may ask for decisions' },
  cross_region: { status: 403, message: 'cross-region request refused' },
  tenant_mismatch: { status: 403, message: 'tenant mismatch' },
  forbidden_role: { status: 403, message: 'the role does not permit this request' },
  rate_limited: { status: 429, message: 'rate limit exceeded' },
  // A policy error is a deny, never a 5xx: the service fails closed.
  policy_error: { status: 403, message: 'the request could not be authorised' },
  unavailable: { status: 503, message: 'authorisation is unavailable' },
  not_found: { status: 404, message: 'not a check: checks are asked for under /check' },
};

/** The HTTP status of a reason. */
export function statusOf(reason: AuthzReason): number {
  return REASON_TABLE[reason].status;
}

/** The `www-authenticate` header a deny carries (401s only), else undefined. */
export function challengeOf(reason: AuthzReason, realm: string): string | undefined {
  return REASON_TABLE[reason].challenge?.(realm);
}

/**
 * A deny as an {@link AppError}, for a component that cannot answer itself (the token verifier, a
 * bucket store): its code is the reason, its status and message the table's. The check handler's
 * one exit renders it.
 */
export class Denial extends AppError {
  declare readonly code: DenyReason;

  constructor(reason: DenyReason, options: { cause?: unknown; details?: unknown } = {}) {
    const row = REASON_TABLE[reason];
    super(reason, row.status, row.message, options);
    this.name = 'Denial';
  }
}
