/**
 * The dev edge's counters, under the names Envoy's admin `/stats` gives the same events, so that an
 * operator, a test or a dashboard asks either edge the same question ("did any upstream fail
 * certificate verification?") the same way. Only what the dev edge can observe is counted.
 */

/** Why a TLS peer was refused, in Envoy's terms: the chain did not verify, or the SAN matcher said no. */
export type VerifyFailure = 'fail_verify_error' | 'fail_verify_san';

/**
 * Node's X509 verification codes (the tls docs' "X509 certificate error codes"): an error carrying
 * one of these failed in the chain check, which Envoy counts as `ssl.fail_verify_error`.
 */
const CHAIN_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE', 'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD', 'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'OUT_OF_MEM', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

/** The Envoy counter an upstream handshake error belongs to, or undefined when it is no verification failure. */
export function verifyFailureOf(err: unknown): VerifyFailure | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_PEER_IDENTITY') return 'fail_verify_san';
  return typeof code === 'string' && CHAIN_ERRORS.has(code) ? 'fail_verify_error' : undefined;
}

/** Monotonic counters by Envoy stat name. */
export class EdgeStats {
  readonly #counters = new Map<string, number>();

  /** Declares counters at 0, so that `/stats` lists them before anything happened, as Envoy does. */
  declare(...names: string[]): void {
    for (const name of names) if (!this.#counters.has(name)) this.#counters.set(name, 0);
  }

  inc(name: string): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + 1);
  }

  /** Envoy's `/stats` text format: one `name: value` line per counter, sorted by name. */
  render(): string {
    return [...this.#counters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}: ${value}\n`)
      .join('');
  }
}
