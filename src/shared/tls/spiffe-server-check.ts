import type { PeerCertificate } from 'node:tls';
import { uriSans } from '../spiffe.js';

/** A server whose certificate chains to the CA but names another identity (or several). */
export class ServerIdentityError extends Error {
  readonly code = 'ERR_SERVER_IDENTITY';
  constructor(expected: string, presented: readonly string[]) {
    const got = presented.length === 0 ? 'no URI SAN' : presented.join(', ');
    super(`the server presented ${got}; only ${expected} is accepted`);
    this.name = 'ServerIdentityError';
  }
}

/**
 * A `checkServerIdentity` that accepts exactly one URI SAN equal to `expected` (a SPIFFE ID): what
 * a client here checks beyond the chain, as Envoy's SAN matchers do. The host name plays no part:
 * the identity is the SPIFFE ID, and loopback names and addresses say nothing.
 */
export function spiffeServerCheck(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return function check(_host, cert) {
    const presented = uriSans(cert.subjectaltname);
    if (presented.length !== 1 || presented[0] !== expected) return new ServerIdentityError(expected, presented);
    return undefined;
  };
}
