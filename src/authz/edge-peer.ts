import type { TLSSocket } from 'node:tls';
import { isEdge, peerSpiffeId, type SpiffeId } from '../shared/spiffe.js';

// A connection's peer certificate never changes (renegotiation is disabled on every connection,
// see app.ts), so it is read once per connection rather than once per check: edges keep their
// connections alive for thousands of checks.
const peers = new WeakMap<TLSSocket, SpiffeId | null>();

/**
 * The SPIFFE ID of the edge on the other end of `socket`, or undefined when the peer is anything
 * else (not authorised, no or several URI SANs, another trust domain, not of kind `edge`).
 */
export function edgePeer(socket: TLSSocket, trustDomain: string): SpiffeId | undefined {
  let id = peers.get(socket);
  if (id === undefined) {
    const peer = peerSpiffeId(socket, trustDomain);
    id = isEdge(peer) ? peer : null;
    peers.set(socket, id);
  }
  return id ?? undefined;
}
