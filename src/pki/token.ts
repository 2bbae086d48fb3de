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

/** How a token is minted. */
export interface MintOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlMs: number;
  readonly maxTtlMs: number;
  readonly now?: Date;
  /**
   * Binds the token to one client certificate (RFC 8705): its `x5t#S256` (cert-thumbprint.ts) goes
   * into `cnf`, and the policy service accepts the token only from that certificate.
   */
  readonly boundTo?: string;
}

/**
 * Mints an ES256 token with the current JWT key (its kid in the header), `iss`, `aud`, `iat`,
 * `nbf`, `exp` and, when bound, `cnf`. The TTL may not exceed `maxTtlMs`: rotation keeps an old
 * public key published exactly that long, and the policy service refuses a longer-lived token.
 */
export async function mintToken(layout: PkiLayout, claims: TokenClaims, opts: MintOptions): Promise<string> {
  if (opts.ttlMs > opts.maxTtlMs) {
    throw new ConfigError('token_ttl_too_long', `--ttl ${Math.round(opts.ttlMs / 1000)}s exceeds jwt.max_token_ttl (${Math.round(opts.maxTtlMs / 1000)}s)`);
  }
  const { kid, keyPem } = await readSigningKey(layout);
  const key = await importPKCS8(keyPem, JWT_ALG);
  const nowS = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const cnf = opts.boundTo === undefined ? {} : { cnf: { 'x5t#S256': opts.boundTo } };
  return new SignJWT({ tenant: claims.tenant, roles: [...claims.roles], region: claims.region, tier: claims.tier, ...cnf })
    .setProtectedHeader({ alg: JWT_ALG, kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setIssuedAt(nowS)
    .setNotBefore(nowS)
    .setExpirationTime(nowS + Math.floor(opts.ttlMs / 1000))
    .sign(key);
}
