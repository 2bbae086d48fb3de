import type { JWTVerifyGetKey } from 'jose';

/**
 * Where the public keys that verify bearer tokens come from: the JWKS file the rotator writes, or
 * an identity provider's JWKS URL. The verifier only ever asks for a key; how a source keeps its
 * keys current is its own business.
 */
export interface KeySource {
  /** `file` or `url`, for logs. */
  readonly kind: 'file' | 'url';
  /** The jose key resolver for the keys held right now (selects by the token's `kid` and `alg`). */
  readonly getKey: JWTVerifyGetKey;
  /** Whether keys are loaded, for `/readyz`. */
  isReady(): boolean;
  /**
   * Looks for new keys now, because a token named a key id the source does not hold (the signer may
   * have rotated before the source noticed). Rate-limited by the source; resolves true when the
   * key set changed.
   */
  refresh(): Promise<boolean>;
  /** Registers a listener for key set changes, e.g. to drop verified tokens. */
  onChange(listener: () => void): void;
  /** Stops watchers and timers. Idempotent. */
  close(): void;
}
