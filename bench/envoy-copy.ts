/**
 * Edits the benches make to a generated Envoy copy (src/stack/envoy-edge.ts writes it from the
 * shipped envoy/envoy.yaml), by YAML path, each checked so that a change to the shipped file fails
 * here by name instead of benching a config nobody meant:
 *   - the local_ratelimit backstop raised out of the way (bench:stack, bench:edge);
 *   - the floor: no policy at all, Envoy straight to the rating API (bench:edge);
 *   - the references' edge: gRPC ext_authz to opa-envoy-plugin and the ratelimit filter to
 *     envoyproxy/ratelimit, in place of the project's HTTP ext_authz and backstop (bench:edge).
 * Listener, TLS, client certificate checks, XFCC, header strip, access log, route and the rating API
 * cluster stay as shipped in all three.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';

const HCM = ['static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config'];
const HTTP_FILTERS = [...HCM, 'http_filters'];
const ROUTE = [...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0];
const CLUSTERS = ['static_resources', 'clusters'];

/** Reads, edits and writes back one generated Envoy config. */
export async function editEnvoyConfig(file: string, edit: (doc: Document) => void): Promise<void> {
  const doc = parseDocument(await readFile(file, 'utf8'));
  edit(doc);
  await writeFile(file, doc.toString({ lineWidth: 0 }));
}

function indexOf(doc: Document, path: readonly (string | number)[], key: string, value: string): number {
  const seq: unknown = doc.getIn(path);
  const index = isSeq(seq) ? seq.items.findIndex((f) => isMap(f) && f.get(key) === value) : -1;
  if (index < 0) throw new Error(`the generated Envoy config has no ${value} at ${path.join('.')}`);
  return index;
}

/** The http filter named `name`'s index. */
const filterIndex = (doc: Document, name: string): number => indexOf(doc, HTTP_FILTERS, 'name', name);

/**
 * Raises the local_ratelimit backstop out of the way (as the policy data's limits are): at its
 * shipped 200/s per edge it would cap the Envoy path and count its 429s as the path's cost.
 */
export function raiseBackstop(doc: Document): string {
  const bucket = [...HTTP_FILTERS, filterIndex(doc, 'envoy.filters.http.local_ratelimit'), 'typed_config', 'token_bucket'];
  const before = `${String(doc.getIn([...bucket, 'max_tokens']))} tokens, ${String(doc.getIn([...bucket, 'tokens_per_fill']))} per ${String(doc.getIn([...bucket, 'fill_interval']))}`;
  doc.setIn([...bucket, 'max_tokens'], 1e7);
  doc.setIn([...bucket, 'tokens_per_fill'], 1e7);
  return `Envoy local_ratelimit backstop: ${before} -> 1e7 tokens, 1e7 per fill`;
}

/** Raises the backstop of the config in `file`; see {@link raiseBackstop}. */
export async function raiseEnvoyBackstop(configFile: string): Promise<string> {
  let said = '';
  await editEnvoyConfig(configFile, (doc) => {
    said = raiseBackstop(doc);
  });
  return said;
}

function deleteFilter(doc: Document, name: string): void {
  doc.deleteIn([...HTTP_FILTERS, filterIndex(doc, name)]);
}

function deleteCluster(doc: Document, name: string): void {
  doc.deleteIn([...CLUSTERS, indexOf(doc, CLUSTERS, 'name', name)]);
}

/**
 * The floor: Envoy straight to the rating API, no ext_authz, no rate limit. The route sets the
 * identity headers the rating API needs from the bench's own `x-bench-*` request headers (the user a
 * request is for), so the rating API does the same per-user work as behind the policy; the client
 * SPIFFE ID is the verified peer's.
 */
export function floorEdits(doc: Document): void {
  deleteFilter(doc, 'envoy.filters.http.local_ratelimit');
  deleteFilter(doc, 'envoy.filters.http.ext_authz');
  deleteCluster(doc, 'authz');
  const set = (key: string, value: string): Record<string, unknown> => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  doc.setIn(
    [...ROUTE, 'request_headers_to_add'],
    doc.createNode([set('x-zt-subject', '%REQ(x-bench-sub)%'), set('x-zt-tenant', '%REQ(x-bench-tenant)%'), set('x-zt-roles', '%REQ(x-bench-roles)%'), set('x-zt-client', '%DOWNSTREAM_PEER_URI_SAN%')]),
  );
}

/** A plaintext HTTP/2 cluster on loopback, for a gRPC sidecar. */
function grpcCluster(name: string, port: number): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

/** The ratelimit descriptors the references' route sends: the same three buckets as the policy's. */
export const RATELIMIT_DOMAIN = 'zt';

/**
 * The references' edge (opa-envoy-plugin's and envoyproxy/ratelimit's documented deployments): the
 * project's HTTP ext_authz becomes gRPC ext_authz to opa-envoy-plugin (same allowed headers, same
 * 250 ms, failing closed), and the local_ratelimit backstop becomes the ratelimit filter asking
 * envoyproxy/ratelimit for the global, tenant and user buckets (failing closed too), keyed on the
 * identity headers OPA sets. Both sidecars are reached over plaintext gRPC on loopback, as they are
 * usually deployed next to Envoy.
 */
export function referencesEdits(doc: Document, ports: { opaGrpc: number; ratelimitGrpc: number }): void {
  const authz = [...HTTP_FILTERS, filterIndex(doc, 'envoy.filters.http.ext_authz'), 'typed_config'];
  const timeout = doc.getIn([...authz, 'http_service', 'server_uri', 'timeout']);
  if (typeof timeout !== 'string') throw new Error('the generated Envoy config has no ext_authz http_service timeout');
  doc.deleteIn([...authz, 'http_service']);
  doc.setIn([...authz, 'grpc_service'], doc.createNode({ envoy_grpc: { cluster_name: 'opa_envoy' }, timeout }));
  const backstop = filterIndex(doc, 'envoy.filters.http.local_ratelimit');
  doc.deleteIn([...HTTP_FILTERS, backstop]);
  // After ext_authz, so that the descriptors see the identity OPA set.
  const router = filterIndex(doc, 'envoy.filters.http.router');
  const filters = doc.getIn(HTTP_FILTERS);
  if (!isSeq(filters)) throw new Error('the generated Envoy config has no http_filters');
  filters.items.splice(
    router,
    0,
    doc.createNode({
      name: 'envoy.filters.http.ratelimit',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit',
        domain: RATELIMIT_DOMAIN,
        failure_mode_deny: true,
        timeout,
        enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
        rate_limit_service: { transport_api_version: 'V3', grpc_service: { envoy_grpc: { cluster_name: 'ratelimit' } } },
      },
    }),
  );
  doc.setIn(
    [...ROUTE, 'route', 'rate_limits'],
    doc.createNode([
      { actions: [{ generic_key: { descriptor_value: 'global' } }] },
      { actions: [{ request_headers: { header_name: 'x-zt-tenant', descriptor_key: 'tenant' } }] },
      { actions: [{ request_headers: { header_name: 'x-zt-tenant', descriptor_key: 'tenant' } }, { request_headers: { header_name: 'x-zt-subject', descriptor_key: 'user' } }] },
    ]),
  );
  deleteCluster(doc, 'authz');
  const clusters = doc.getIn(CLUSTERS);
  if (!isSeq(clusters)) throw new Error('the generated Envoy config has no clusters');
  clusters.items.push(doc.createNode(grpcCluster('opa_envoy', ports.opaGrpc)), doc.createNode(grpcCluster('ratelimit', ports.ratelimitGrpc)));
}
