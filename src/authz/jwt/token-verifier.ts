import { hash } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import type { Clock } from '../clock.js';
import type { JwtConfig } from '../config.js';
import { Denial } from '../reasons.js';
import { claimsProblem, ClaimsSchema, type Claims } from './claims.js';
import { joseFailureDescription } from './jose-failure.js';
import type { KeySource } from './key-source.js';
import { lifetimeProblem, type LifetimeBounds } from './token-lifetime.js';
import { TokenCache } from './token-cache.js';

/** Longer than any token the project mints by far; a bigger one is refused unread. */
export const MAX_TOKEN_LENGTH = 8192;

const REQUIRED_CLAIMS = ['exp', 'nbf', 'iss', 'aud'];

/**
 * Verifies bearer tokens with jose: algorithms pinned, `iss` and `aud` checked, `exp`, `nbf`, `iss`
 * and `aud` required, a small clock tolerance, time from the injected clock; then the lifetime
 * rules jose has no option for (token-lifetime.ts: `iat` required, not in the future, `exp - iat`
 * and `exp - now` at most JWT_MAX_TTL) and the claims' shape (claims.ts). Repeat tokens come from a
 * {@link TokenCache} until their `exp`. Every failure is a {@link Denial} with an
 * `error_description` a client can act on: `token_expired` for jose's JWTExpired, `invalid_token`
 * for anything else; jose's text stays in `cause`.
 */
export class TokenVerifier {
  readonly #cache: TokenCache;
  readonly #options: Parameters<typeof jwtVerify>[2] & object;
  readonly #bounds: LifetimeBounds;

  constructor(
    config: JwtConfig,
    private readonly keys: KeySource,
    private readonly clock: Clock,
  ) {
    this.#cache = new TokenCache(config.cacheSize);
    this.#options = {
      algorithms: [...config.algorithms],
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: config.clockToleranceS,
    };
    this.#bounds = { maxTtlS: config.maxTtlS, clockToleranceS: config.clockToleranceS };
    // A key that left the JWKS must stop vouching for the tokens it signed at once.
    keys.onChange(() => this.#cache.clear());
  }

  /** The verified claims of `token`, or a thrown `invalid_token` or `token_expired` Denial. */
  async verify(token: string): Promise<Claims> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid(`the token is longer than ${MAX_TOKEN_LENGTH} characters`);
    const key = hash('sha256', token, 'base64');
    const nowMs = this.clock.nowMs();
    const cached = this.#cache.get(key, nowMs);
    if (cached !== undefined) return cached;

    const payload = await this.#verifyOnce(token, true);
    // Bounds that only tighten as time passes (exp - now shrinks; a future iat is never cached), so
    // a cached token needs no second look.
    const tooLong = lifetimeProblem(payload, Math.floor(nowMs / 1000), this.#bounds);
    if (tooLong !== undefined) throw invalid(tooLong);
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw invalid(claimsProblem(claims.error, payload), new Error(`claims off-contract: ${claims.error.issues[0]?.message ?? ''}`));
    const exp = payload.exp;
    if (typeof exp === 'number') this.#cache.set(key, claims.data, exp * 1000, nowMs);
    return claims.data;
  }

  async #verifyOnce(token: string, mayRefresh: boolean): Promise<Record<string, unknown>> {
    try {
      const { payload } = await jwtVerify(token, this.keys.getKey, { ...this.#options, currentDate: new Date(this.clock.nowMs()) });
      return payload;
    } catch (err) {
      // The signer may have rotated before our copy of the JWKS did; look once, then decide.
      if (mayRefresh && err instanceof errors.JWKSNoMatchingKey && (await this.keys.refresh())) {
        return this.#verifyOnce(token, false);
      }
      if (err instanceof errors.JWTExpired) {
        throw new Denial('token_expired', { cause: err, description: 'the token has expired' });
      }
      throw invalid(joseFailureDescription(err), err);
    }
  }
}

function invalid(description: string, cause: unknown = new Error(description)): Denial {
  return new Denial('invalid_token', { cause, description });
}
