import { hash } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import type { Clock } from '../clock.js';
import type { JwtConfig } from '../config.js';
import { Denial } from '../reasons.js';
import { ClaimsSchema, type Claims } from './claims.js';
import type { KeySource } from './key-source.js';
import { TokenCache } from './token-cache.js';

/** Longer than any token the project mints by far; a bigger one is refused unread. */
export const MAX_TOKEN_LENGTH = 8192;

const REQUIRED_CLAIMS = ['exp', 'nbf', 'iss', 'aud'];

/**
 * Verifies bearer tokens with jose: algorithms pinned, `iss` and `aud` checked, `exp`, `nbf`, `iss`
 * and `aud` required, a small clock tolerance, time from the injected clock. Repeat tokens come from
 * a {@link TokenCache} until their `exp`. Every failure is a {@link Denial}: `token_expired` for
 * jose's JWTExpired, `invalid_token` for anything else; jose's text stays in `cause`.
 */
export class TokenVerifier {
  readonly #cache: TokenCache;
  readonly #options: Parameters<typeof jwtVerify>[2] & object;

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
    // A key that left the JWKS must stop vouching for the tokens it signed at once.
    keys.onChange(() => this.#cache.clear());
  }

  /** The verified claims of `token`, or a thrown `invalid_token` or `token_expired` Denial. */
  async verify(token: string): Promise<Claims> {
    if (token.length > MAX_TOKEN_LENGTH) throw this.#invalid(new Error(`token longer than ${MAX_TOKEN_LENGTH} characters`));
    const key = hash('sha256', token, 'base64');
    const cached = this.#cache.get(key, this.clock.nowMs());
    if (cached !== undefined) return cached;

    const payload = await this.#verifyOnce(token, true);
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw this.#invalid(new Error(`claims off-contract: ${claims.error.issues[0]?.message ?? ''}`));
    const exp = payload.exp;
    if (typeof exp === 'number') this.#cache.set(key, claims.data, exp * 1000, this.clock.nowMs());
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
        throw new Denial('token_expired', { cause: err });
      }
      throw this.#invalid(err);
    }
  }

  #invalid(cause: unknown): Denial {
    return new Denial('invalid_token', { cause });
  }
}
