/**
 * Certificate-bound tokens (RFC 8705, section 3). A token may carry `cnf: {"x5t#S256": ...}`, the
 * base64url SHA-256 of the DER of the one client certificate it may be presented with. The edge
 * tells us which certificate presented it: XFCC's `Hash`, the hex SHA-256 of the same DER. Two
 * encodings of one digest, compared as bytes. Whether a tenant *requires* a bound token is the
 * policy's call (policies/binding.rego, from policies/data.json); that a token which is bound is
 * presented with its own certificate holds everywhere.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Claims } from './jwt/claims.js';

/** What a check learns about a token's binding. */
export type Binding = { readonly bound: boolean } | { readonly problem: string };

/**
 * The binding of `claims` given the presenting certificate's SHA-256 (`certSha256`, hex, from XFCC):
 * `bound: false` for a token without `cnf`, `bound: true` when its `x5t#S256` is that certificate,
 * and otherwise a `problem`, the `error_description` of the 401 `invalid_token` it must get.
 */
export function tokenBinding(claims: Claims, certSha256: string | undefined): Binding {
  const cnf = claims.cnf;
  if (cnf === undefined) return { bound: false };
  const thumbprint = cnf['x5t#S256'];
  // A confirmation this service cannot check (a DPoP `jkt`, say) must not pass as no confirmation.
  if (thumbprint === undefined) return { problem: 'the token is bound by a confirmation method this service does not check; only cnf x5t#S256 is supported' };
  if (certSha256 === undefined) return { problem: 'the token is bound to a client certificate, and the edge named none' };
  const presented = Buffer.from(certSha256, 'hex');
  const expected = Buffer.from(thumbprint, 'base64url');
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
    return { problem: 'the token is bound to another client certificate (cnf x5t#S256); mint a new token for the certificate you present' };
  }
  return { bound: true };
}
