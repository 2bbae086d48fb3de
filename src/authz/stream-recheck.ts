import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { parseSpiffeId, type SpiffeId } from '../shared/spiffe.js';
import { isStreamPath, STREAM_EDGE_HEADER } from '../shared/stream/stream-recheck.js';
import { peerIdentity, requestSocket } from '../shared/tls/peer-identity.js';
import { clientTarget } from './check-url.js';

/**
 * The edge a check is decided for, or undefined (→ 403 `untrusted_peer`):
 * - an edge peer is that edge; whatever {@link STREAM_EDGE_HEADER} it carries is ignored (an edge
 *   never sends it: a client's x-zt-* headers are stripped and the header is not on the allow-list);
 * - the rating API (`streamRecheckPeer`) re-checking a stream's fresh token (a GET of a stream
 *   path) gets a decision for the edge it names in {@link STREAM_EDGE_HEADER}, which must be an
 *   edge SPIFFE ID of the trust domain. This gives the rating API nothing it did not have: it
 *   already serves every stream and rating, and it learnt the edge from the stream's TLS peer.
 * Any other peer, or the rating API asking about anything else, gets no decision.
 */
export function edgeOfCheck(req: IncomingMessage | Http2ServerRequest, trustDomain: string, streamRecheckPeer: string | undefined): SpiffeId | undefined {
  const peer = peerIdentity(requestSocket(req), trustDomain)?.spiffeId;
  if (peer?.kind === 'edge') return peer;
  if (peer === undefined || streamRecheckPeer === undefined || peer.uri !== streamRecheckPeer) return undefined;
  const target = clientTarget(req.url ?? '');
  if (req.method !== 'GET' || target === undefined || !isStreamPath(target.path)) return undefined;
  const named = req.headers[STREAM_EDGE_HEADER];
  const edge = typeof named === 'string' ? parseSpiffeId(named) : undefined;
  return edge?.kind === 'edge' && edge.trustDomain === trustDomain ? edge : undefined;
}
