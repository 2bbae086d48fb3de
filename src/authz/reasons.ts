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
  /**
   * The `www-authenticate` value of a 401, given the realm (JWT_AUDIENCE) and the deny's
   * `error_description` (its own, or the reason's default).
   */
  readonly challenge?: (realm: string, description: string) => string;
}

// A bare realm when no token came; the invalid_token error code and a description a client can act
// on when one came and failed (RFC 6750 section 3).
const invalidToken = (_realm: string, description: string): string => `Bearer error="invalid_token", error_description="${description}"`;

const REASON_TABLE: Readonly<Record<AuthzReason, ReasonRow>> = {
  allowed: { status: 200, message: 'allowed' },
  missing_token: { status: 401, message: 'a bearer token is required', challenge: (realm) => `Bearer realm="${realm}"` },
  invalid_token: { status: 401, message: 'the bearer token is not valid', challenge: invalidToken },
  token_expired: { status: 401, message: 'the token has expired', challenge: invalidToken },
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

/**
 * The `www-authenticate` header a deny carries (401s only), else undefined. `description` is the
 * deny's own `error_description` (a {@link Denial}'s); without one, the reason's message stands in.
 */
export function challengeOf(reason: AuthzReason, realm: string, description?: string): string | undefined {
  const row = REASON_TABLE[reason];
  return row.challenge?.(realm, quotable(description ?? row.message));
}

/**
 * A description as the quoted-string of a challenge: RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E in
 * `error_description`, so anything else (a quote, a backslash, a control or non-ASCII character)
 * becomes a space. Descriptions are the service's own words; this only guarantees the header parses.
 */
function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, ' ');
}

/**
 * Why the policy refused a token it was given (`invalid_token`, policies/binding.rego): the tenant
 * requires a token bound to the client certificate, or the token's subject is not the user the
 * certificate names; '' for any other answer. The policy decision carries it as `detail`.
 */
export const DECISION_DETAILS = ['', 'unbound_token', 'subject_not_client'] as const;
export type DecisionDetail = (typeof DECISION_DETAILS)[number];

/** What a client is told about the policy's own `invalid_token` denials. */
const DETAIL_DESCRIPTIONS: Readonly<Record<DecisionDetail, string | undefined>> = {
  '': undefined,
  unbound_token: 'this tenant requires a token bound to your client certificate (cnf x5t#S256); mint one for the certificate you present',
  subject_not_client: "the token's subject is not the user your client certificate names",
};

/** The `error_description` of a policy deny's detail, or undefined when it has none. */
export function detailDescription(detail: DecisionDetail): string | undefined {
  return DETAIL_DESCRIPTIONS[detail];
}

/**
 * A deny as an {@link AppError}, for a component that cannot answer itself (the token verifier, a
 * bucket store): its code is the reason, its status and message the table's. The check handler's
 * one exit renders it.
 */
export class Denial extends AppError {
  declare readonly code: DenyReason;
  /**
   * The `error_description` of a 401's challenge: what the client can do about it, in the service's
   * own words, never a library's text or a value from the token.
   */
  readonly description: string | undefined;

  constructor(reason: DenyReason, options: { cause?: unknown; details?: unknown; description?: string } = {}) {
    const row = REASON_TABLE[reason];
    super(reason, row.status, row.message, options);
    this.name = 'Denial';
    this.description = options.description;
  }
}
