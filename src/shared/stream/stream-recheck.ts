/**
 * The contract between the rating API and authz for re-checking a stream's token. A rating stream
 * outlives the token it was opened with; a client extends it by sending a fresh token over the
 * socket, and the rating API has authz decide on that token exactly as it decided on the
 * handshake: the same check request (GET of the stream path, the token in `Authorization`, the
 * handshake's XFCC), the same verifier, policy, cross-region rule and buckets. Only the edge is not
 * the caller any more, so the rating API names it in {@link STREAM_EDGE_HEADER}: the edge whose
 * certificate the stream's connection presented, the one whose region the handshake was decided
 * for. authz believes that header from the rating API's own identity only, and only for a stream.
 */

/** The stream's edge (its SPIFFE ID), set by the rating API on a re-check. */
export const STREAM_EDGE_HEADER = 'x-zt-stream-edge';

const STREAM_PATH = /^\/v1\/tenants\/[^/]+\/items\/[^/]+\/ratings\/stream$/;

/** Whether `path` (without a query) is a rating stream's: `/v1/tenants/{t}/items/{i}/ratings/stream`. */
export function isStreamPath(path: string): boolean {
  return STREAM_PATH.test(path);
}
