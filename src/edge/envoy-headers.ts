/**
 * The headers Envoy's connection manager and router add or remove on their own, whatever
 * envoy.yaml says, as observed on Envoy 1.40 running the shipped config (the edge integration
 * suites run the same assertions through both edges). The dev edge applies the same rules, so the
 * authz service and the rating API cannot tell the two edges apart by their headers.
 */
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The `server` header of every response: Envoy's default `server_name`, written over whatever the
 * upstream sent (`server_header_transformation: OVERWRITE`), so the rating API's own never leaks.
 */
export const SERVER_NAME = 'envoy';

/**
 * Client-supplied `x-envoy-*` request headers that steer Envoy (retries, timeouts, the original
 * path...). An edge request comes from outside (`use_remote_address: true`), so Envoy drops them
 * before any filter runs; other `x-envoy-*` names pass through as ordinary headers.
 */
const EXTERNAL_REQUEST_STRIPPED = new Set([
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-external-address',
  'x-envoy-force-trace',
  'x-envoy-hedge-on-per-try-timeout',
  'x-envoy-internal',
  'x-envoy-ip-tags',
  'x-envoy-max-retries',
  'x-envoy-original-host',
  'x-envoy-original-path',
  'x-envoy-original-url',
  'x-envoy-retriable-header-names',
  'x-envoy-retriable-status-codes',
  'x-envoy-retry-grpc-on',
  'x-envoy-retry-on',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-stream-duration-ms',
]);

/**
 * Hop-by-hop headers: they describe the client's connection and never travel upstream, where the
 * edge's own connection has its own. (Transfer-Encoding is framing: Node's codec re-frames the body
 * as Envoy's does, so it is left to the codec.)
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];

/**
 * Applies the connection manager's edge rules to a client request's headers in place: the
 * steering `x-envoy-*` headers removed, `te` kept only as `trailers`, and
 * `x-envoy-external-address` set to the client's address.
 */
export function sanitizeExternalRequest(headers: IncomingHttpHeaders, remoteAddress: string): void {
  for (const name of Object.keys(headers)) if (EXTERNAL_REQUEST_STRIPPED.has(name)) delete headers[name];
  if (headers.te !== undefined && String(headers.te).trim().toLowerCase() !== 'trailers') delete headers.te;
  headers['x-envoy-external-address'] = remoteAddress;
}

/** The headers of a client request that must not be copied upstream: hop-by-hop, and any its Connection names. */
export function hopByHopHeaders(headers: IncomingHttpHeaders): string[] {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '' && n !== 'close' && n !== 'keep-alive');
  return [...HOP_BY_HOP, ...named].filter((n) => headers[n] !== undefined);
}

/** The router's deadline header on every request it sends upstream: the route's (or authz's) timeout in ms. */
export const EXPECTED_TIMEOUT_HEADER = 'x-envoy-expected-rq-timeout-ms';

/**
 * Set on the check request, as Envoy's async client marks every request it makes itself: authz can
 * tell a check from a client request even if a route ever sent one to it.
 */
export const INTERNAL_HEADER = 'x-envoy-internal';
