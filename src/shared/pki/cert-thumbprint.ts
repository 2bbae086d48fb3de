import { createHash, type X509Certificate } from 'node:crypto';

/**
 * A certificate's RFC 8705 thumbprint, `x5t#S256`: the SHA-256 of its DER, base64url without
 * padding. What a certificate-bound token's `cnf` carries; the edge's XFCC `Hash` is the same digest
 * in hex.
 */
export function x5tS256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('base64url');
}
