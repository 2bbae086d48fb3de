import { createHash, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseSpiffeId, uriSans, type SpiffeId } from '../spiffe.js';
import { CLIENT_AUTH_EKU } from './tls-profile.js';

/** What a connection's verified peer certificate says, read once per connection. */
export interface PeerIdentity {
  /** Its SPIFFE ID: exactly one URI SAN, of the project's shape, in the trust domain; else undefined. */
  readonly spiffeId: SpiffeId | undefined;
  /** Every URI SAN, in certificate order. */
  readonly uris: readonly string[];
  /** SHA-256 of the leaf's DER, lowercase hex (XFCC's `Hash=`, RFC 8705's `x5t#S256` in hex). */
  readonly hash: string;
  /** The subject in RFC 2253 form, as Envoy prints it: `CN=client-alice,OU=client,O=zt.local`. */
  readonly subject: string;
  /** Whether its extended key usage allows TLS client authentication (absent EKU does not). */
  readonly clientAuth: boolean;
  /** The leaf in PEM, as OpenSSL and BoringSSL write one (XFCC's `Cert`). */
  readonly pem: string;
}

// A connection's peer certificate is fixed at the handshake (every listener here disables
// renegotiation), and peers keep connections alive for thousands of requests: read it once.
const identities = new WeakMap<Socket, PeerIdentity | null>();

/**
 * The verified peer of a TLS socket, or undefined when the handshake did not authorise one (no
 * certificate, or one that does not chain to the trust anchors) or the socket is not TLS. The
 * SPIFFE ID is only set for exactly one URI SAN of `trustDomain`.
 */
export function peerIdentity(socket: Socket, trustDomain: string): PeerIdentity | undefined {
  let id = identities.get(socket);
  if (id === undefined) {
    id = readPeer(socket as Partial<TLSSocket>, trustDomain) ?? null;
    identities.set(socket, id);
  }
  return id ?? undefined;
}

/**
 * The connection a request came on, for {@link peerIdentity}. An HTTP/1.1 request's `socket` is
 * the TLS socket. An HTTP/2 request's `socket` is a proxy made per stream, so reading the peer
 * from it would read the certificate again for every request; its session's `socket` is one
 * proxy per connection that reads through to the TLS socket.
 */
export function requestSocket(req: { readonly socket: Socket; readonly stream?: { readonly session?: { readonly socket: Socket } | undefined } }): Socket {
  return req.stream?.session?.socket ?? req.socket;
}

/** The peer's SPIFFE ID when it is of `kind` (`edge`, `svc`, `client`), else undefined. */
export function peerOfKind(socket: Socket, trustDomain: string, kind: string): SpiffeId | undefined {
  const id = peerIdentity(socket, trustDomain)?.spiffeId;
  return id?.kind === kind ? id : undefined;
}

function readPeer(socket: Partial<TLSSocket>, trustDomain: string): PeerIdentity | undefined {
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  if (raw === undefined) return undefined;
  const x509 = new X509Certificate(raw);
  const uris = uriSans(x509.subjectAltName);
  const only = uris.length === 1 ? parseSpiffeId(uris[0] ?? '') : undefined;
  return {
    spiffeId: only?.trustDomain === trustDomain ? only : undefined,
    uris,
    hash: createHash('sha256').update(raw).digest('hex'),
    subject: rfc2253(x509.subject),
    clientAuth: Array.isArray(x509.keyUsage) && x509.keyUsage.includes(CLIENT_AUTH_EKU),
    pem: x509.toString(),
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
