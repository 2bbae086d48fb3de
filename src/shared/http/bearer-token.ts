import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where a request's bearer token is: the one rule shared by authz, which verifies the token, and
 * the rating API, which reads a stream's expiry from the same token. A token is taken from
 * - `Authorization: Bearer <token>` (RFC 6750, section 2.1), or
 * - a `Sec-WebSocket-Protocol` entry `bearer.<token>`, which is how a browser, unable to set
 *   headers on a WebSocket handshake, sends one next to the stream's own subprotocol
 *   ({@link STREAM_SUBPROTOCOL}).
 * Never from the query string, which ends up in access logs. A request that carries a token both
 * ways, or two `bearer.` entries, is refused: RFC 6750 allows one method per request, and one rule
 * is what keeps the token authz verified and the token the rating API reads the same token.
 */
export type BearerToken =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string; readonly from: 'authorization' | 'subprotocol' }
  | { readonly kind: 'invalid'; readonly why: string };

/** The subprotocol of the rating stream, which the server selects; a `bearer.` entry never is. */
export const STREAM_SUBPROTOCOL = 'zt-ratings.v1';

/** The prefix of the `Sec-WebSocket-Protocol` entry that carries a token. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

const BEARER = /^bearer(?: +|$)/i;
// RFC 6750 b64token: what a bearer credential may be made of.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The bearer token of a request's headers; see {@link BearerToken}. */
export function bearerToken(headers: IncomingHttpHeaders): BearerToken {
  const authorization = headers.authorization;
  const fromHeader = authorization !== undefined && BEARER.test(authorization) ? authorization.slice(6).trim() : undefined;
  const fromProtocols = offeredSubprotocols(headers['sec-websocket-protocol'])
    .filter((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX))
    .map((p) => p.slice(BEARER_SUBPROTOCOL_PREFIX.length));
  if (fromProtocols.length > 1) return { kind: 'invalid', why: 'more than one bearer. subprotocol' };
  const [offered] = fromProtocols;
  if (fromHeader !== undefined && offered !== undefined) return { kind: 'invalid', why: 'a token in both Authorization and Sec-WebSocket-Protocol' };
  const token = fromHeader ?? offered;
  if (token === undefined) return { kind: 'none' };
  if (!B64TOKEN.test(token)) return { kind: 'invalid', why: 'the bearer credential is not a b64token' };
  return { kind: 'token', token, from: fromHeader === undefined ? 'subprotocol' : 'authorization' };
}

/**
 * The entries of a `Sec-WebSocket-Protocol` request header, in order. Node joins repeated headers
 * with `, ` and Envoy with `,`; both read the same here.
 */
export function offeredSubprotocols(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return [];
  return (typeof header === 'string' ? [header] : header)
    .flatMap((h) => h.split(','))
    .map((p) => p.trim())
    .filter((p) => p !== '');
}
