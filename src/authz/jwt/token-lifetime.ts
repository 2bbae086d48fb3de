/**
 * The lifetime rules jose does not apply: a token must say when it was issued (`iat`), must not have
 * been issued in the future, and may live no longer than JWT_MAX_TTL, which defaults to the issuer's
 * own `jwt.max_token_ttl`. Without them a correctly signed token with `exp` ten years out (or
 * `exp: 1e308`) would be good for ever, and a stolen one would never age out. jose has already
 * checked that `exp` is present and not past, and that `nbf` is not in the future.
 */

/** The bounds, from the service's JWT config. */
export interface LifetimeBounds {
  /** The longest lifetime accepted, `exp - iat` and `exp - now` alike, in seconds. */
  readonly maxTtlS: number;
  /** The clock skew tolerated between the issuer and this service, in seconds. */
  readonly clockToleranceS: number;
}

/**
 * Why a verified payload's lifetime is refused, as a public `error_description`, or undefined when
 * it is within bounds. `nowS` is this service's clock in seconds. A token issued at `now` and
 * expiring exactly `maxTtlS` later passes; one more second does not. The skew tolerance applies to
 * the issuer's clock (`iat`, and so `exp - now`), never to the lifetime the token claims.
 */
export function lifetimeProblem(payload: Readonly<Record<string, unknown>>, nowS: number, bounds: LifetimeBounds): string | undefined {
  const { iat, exp } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'the token has no iat (issued at) claim';
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'the token has no usable exp claim';
  if (iat > nowS + bounds.clockToleranceS) return 'the token was issued in the future (iat)';
  if (exp - iat > bounds.maxTtlS) return `the token lives longer than the ${bounds.maxTtlS} s allowed (exp - iat)`;
  if (exp - nowS > bounds.maxTtlS + bounds.clockToleranceS) return `the token expires more than ${bounds.maxTtlS} s from now`;
  return undefined;
}
