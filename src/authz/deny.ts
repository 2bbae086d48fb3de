import { AppError, type Reason } from '../shared/errors.js';

/** The one public message per reason; the reason code is what clients key on. */
const MESSAGES: Readonly<Record<Reason, string>> = {
  allowed: 'allowed',
  missing_token: 'a bearer token is required',
  invalid_token: 'the bearer token is not valid',
  token_expired: 'the bearer token has expired',
  no_client_cert: 'no verified client certificate',
  untrusted_peer: 'only edges may ask for decisions',
  cross_region: 'cross-region request refused',
  tenant_mismatch: 'tenant mismatch',
  forbidden_role: 'the role does not permit this request',
  rate_limited: 'rate limit exceeded',
  policy_error: 'the request could not be authorised',
  unavailable: 'authorisation is unavailable',
};

/**
 * A deny as an {@link AppError}: its `code` is the reason, its `status` the HTTP status. The error
 * middleware renders it as `{error, request_id}` with `headers`.
 */
export function deny(reason: Reason, status: number, options: { headers?: Record<string, string>; cause?: unknown } = {}): AppError {
  return new AppError(reason, status, MESSAGES[reason], options);
}

/**
 * The `www-authenticate` challenge of a 401 (RFC 6750 §3): a bare realm when no token came, the
 * `invalid_token` error code when one came and failed.
 */
export function bearerChallenge(reason: 'missing_token' | 'invalid_token' | 'token_expired', realm: string): string {
  if (reason === 'missing_token') return `Bearer realm="${realm}"`;
  if (reason === 'token_expired') return 'Bearer error="invalid_token", error_description="the token has expired"';
  return 'Bearer error="invalid_token"';
}
