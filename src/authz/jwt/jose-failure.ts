/**
 * What a client is told when jose refuses its token: one `error_description` per kind of failure,
 * in the service's own words. jose's message (which can quote claim values) stays in the Denial's
 * cause, for the log only.
 */
import { errors } from 'jose';

/** The public description of a jose verification failure. */
export function joseFailureDescription(err: unknown): string {
  if (err instanceof errors.JWTClaimValidationFailed) return claimDescription(err.claim, err.reason);
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not accepted';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no published key matches the token (kid); mint a new token';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'the token does not name its key (kid)';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return 'the token is malformed';
  return 'the token could not be verified';
}

function claimDescription(claim: string, reason: string): string {
  // Claim names here are the registered ones jose checks; anything else is named generically.
  const known = new Set(['iss', 'aud', 'nbf', 'exp', 'iat', 'sub', 'jti']);
  const name = known.has(claim) ? claim : 'a registered';
  if (reason === 'missing') return `the token has no ${name} claim`;
  if (claim === 'nbf') return 'the token is not valid yet (nbf)';
  if (claim === 'iss' || claim === 'aud') return `the token's ${claim} is not accepted here`;
  return `the token's ${name} claim is not valid`;
}
