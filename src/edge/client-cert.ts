/**
 * What the edge learns from a client's verified certificate: the fields Envoy puts in the XFCC
 * element it sets, and the identity its listener's SAN matcher admits.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { parseSpiffeId, uriSans, type SpiffeId } from '../shared/spiffe.js';

/** The client side of one mTLS connection, computed once per connection. */
export interface ClientCert {
  /** SHA-256 of the leaf's DER, lowercase hex (Envoy's `Hash=`). */
  readonly hash: string;
  /** The subject in RFC 2253 form, as Envoy prints it: `CN=client-alice,OU=client,O=zt.local`. */
  readonly subject: string;
  /** Every URI SAN in certificate order (Envoy emits one `URI=` each). */
  readonly uris: readonly string[];
  /** The client's SPIFFE ID when it is a client of the trust domain; undefined otherwise. */
  readonly spiffeId: SpiffeId | undefined;
}

/**
 * Reads the verified peer certificate of an authorised socket; undefined when the handshake did not
 * authorise the peer (no certificate, or one that does not chain to the bundle).
 */
export function clientCertOf(socket: TLSSocket, trustDomain: string): ClientCert | undefined {
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  if (!peer.raw) return undefined;
  const x509 = new X509Certificate(peer.raw);
  const uris = uriSans(x509.subjectAltName);
  const only = uris.length === 1 ? parseSpiffeId(uris[0] ?? '') : undefined;
  return {
    hash: createHash('sha256').update(peer.raw).digest('hex'),
    subject: rfc2253(x509.subject),
    uris,
    spiffeId: only?.trustDomain === trustDomain && only.kind === 'client' ? only : undefined,
  };
}

/**
 * Node prints a subject one RDN per line, in certificate order, with RFC 2253 escaping already
 * applied (OpenSSL's ASN1_STRFLGS_ESC_2253). Envoy prints it with XN_FLAG_RFC2253: the same
 * escaping, the RDNs reversed and joined with commas. Reversing the lines gives Envoy's string.
 */
export function rfc2253(nodeSubject: string): string {
  return nodeSubject
    .split('\n')
    .filter((line) => line !== '')
    .reverse()
    .join(',');
}
