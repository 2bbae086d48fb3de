import type { PeerCertificate } from 'node:tls';
import { uriSans } from '../spiffe.js';

/** Why a server's certificate was refused: it does not carry the one SPIFFE ID expected. */
export class PeerIdentityError extends Error {
  readonly code = 'ERR_PEER_IDENTITY';
  constructor(expected: string, got: readonly string[]) {
    super(`upstream presented ${got.length === 0 ? 'no URI SAN' : got.join(', ')}, expected exactly ${expected}`);
    this.name = 'PeerIdentityError';
  }
}

/**
 * The identity check Envoy's cluster SAN matcher does, as a `checkServerIdentity` for a client
 * calling a service: exactly one URI SAN, equal to `expected`. The host name is deliberately not
 * checked: Envoy does not check it either when a SAN matcher is configured, and loopback addresses
 * make it meaningless here.
 */
export function spiffeIdentityCheck(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const uris = uriSans(cert.subjectaltname);
    return uris.length === 1 && uris[0] === expected ? undefined : new PeerIdentityError(expected, uris);
  };
}
