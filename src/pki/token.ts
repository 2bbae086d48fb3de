import { importPKCS8, SignJWT } from 'jose';
import { ConfigError } from '../shared/errors.js';
import { JWT_ALG, readSigningKey } from './jwt-keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';

/** The claims a dev token carries beyond the registered ones. */
export interface TokenClaims {
  readonly sub: string;
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly region: string;
  readonly tier: string;
}

/**
 * Mints an ES256 token with the current JWT key (its kid in the header), `iss`, `aud`, `iat`,
 * `nbf` and `exp`. The TTL may not exceed `maxTtlMs`: rotation keeps an old public key published
 * exactly that long, so a longer token would outlive its key.
 */
export async function mintToken(
  layout: PkiLayout,
  claims: TokenClaims,
  opts: { issuer: string; audience: string; ttlMs: number; maxTtlMs: number; now?: Date },
): Promise<string> {
  if (opts.ttlMs > opts.maxTtlMs) {
    throw new ConfigError('token_ttl_too_long', `--ttl ${Math.round(opts.ttlMs / 1000)}s exceeds jwt.max_token_ttl (${Math.round(opts.maxTtlMs / 1000)}s)`);
  }
  const { kid, keyPem } = await readSigningKey(layout);
  const key = await importPKCS8(keyPem, JWT_ALG);
  const nowS = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ tenant: claims.tenant, roles: [...claims.roles], region: claims.region, tier: claims.tier })
    .setProtectedHeader({ alg: JWT_ALG, kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setIssuedAt(nowS)
    .setNotBefore(nowS)
    .setExpirationTime(nowS + Math.floor(opts.ttlMs / 1000))
    .sign(key);
}
