import type { TLSSocket } from 'node:tls';
import type { RequestHandler } from 'express';
import { isEdge, peerSpiffeId } from '../shared/spiffe.js';
import { ratingError } from './rating-errors.js';

/**
 * Lets only edges (Envoy or the dev edge) through: the peer must have presented a certificate
 * that chains to the trust bundle with exactly one SPIFFE ID of kind `edge` in our trust domain.
 * Everything else, a client certificate or another service included, gets 403 `untrusted_peer`,
 * because only an edge strips client-supplied `x-zt-*` headers and asks authz first. On a socket
 * that is not TLS at all there is no peer identity, so the answer is the same.
 */
export function requireEdgePeer(trustDomain: string): RequestHandler {
  // A connection's peer certificate is fixed at the handshake, and an edge sends many requests
  // over one kept-alive connection, so the answer is worked out once per socket.
  const verdicts = new WeakMap<object, boolean>();
  return (req, _res, next) => {
    let edge = verdicts.get(req.socket);
    if (edge === undefined) {
      const socket = req.socket as Partial<TLSSocket>;
      edge = typeof socket.getPeerCertificate === 'function' && isEdge(peerSpiffeId(req.socket as TLSSocket, trustDomain));
      verdicts.set(req.socket, edge);
    }
    next(edge ? undefined : ratingError('untrusted_peer'));
  };
}
