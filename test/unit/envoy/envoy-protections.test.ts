import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadEnvoyConfig, parseEnvoyConfig } from '../../../src/edge/envoy-config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { TLS12_CIPHERS } from '../../../src/shared/tls/tls-profile.js';

const ENVOY_YAML = fileURLToPath(new URL('../../../envoy/envoy.yaml', import.meta.url));

type Doc = Record<string, unknown>;

/** The object at `path` inside `value` (YAML of the real file, edited by a test); throws when it is not one. */
function dig(value: unknown, ...path: Array<string | number>): Doc {
  let at: unknown = value;
  for (const key of path) at = (at as Record<string | number, unknown> | undefined)?.[key];
  assert.ok(at !== null && typeof at === 'object' && !Array.isArray(at), `no object at ${path.join('.')}`);
  return at as Doc;
}

/** The list at `path` inside `value`. */
function list(value: unknown, ...path: Array<string | number>): Doc[] {
  let at: unknown = value;
  for (const key of path) at = (at as Record<string | number, unknown> | undefined)?.[key];
  assert.ok(Array.isArray(at), `no list at ${path.join('.')}`);
  return at as Doc[];
}

function compositeOf(doc: Doc): Doc {
  const found = list(hcmOf(doc), 'http_filters').find((f) => f.name === 'envoy.filters.http.composite');
  assert.ok(found, 'envoy.yaml has a composite filter');
  return found;
}

function realDoc(): Doc {
  return parse(readFileSync(ENVOY_YAML, 'utf8')) as Doc;
}

function hcmOf(doc: Doc): Doc {
  return dig(doc, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config');
}

function localRateLimitOf(doc: Doc): Doc {
  const filter = list(hcmOf(doc), 'http_filters').find((f) => f.name === 'envoy.filters.http.local_ratelimit');
  return dig(filter, 'typed_config');
}

function rejects(doc: Doc, pattern: RegExp): void {
  assert.throws(
    () => parseEnvoyConfig(stringify(doc), 'edited.yaml'),
    (err: unknown) => err instanceof ConfigError && err.code === 'envoy_config' && pattern.test(err.message),
  );
}

describe('envoy.yaml protections, as the dev edge reads them', () => {
  it('reads the timeouts, HTTP/1 limits, connection cap, backstop and authz connection bound of envoy.yaml', () => {
    const { protections } = loadEnvoyConfig(ENVOY_YAML);
    assert.deepEqual(protections, {
      requestHeadersTimeoutMs: 10_000,
      streamIdleTimeoutMs: 60_000,
      idleTimeoutMs: 300_000,
      maxRequestHeadersBytes: 60 * 1024,
      maxHeadersCount: 100,
      maxDownstreamConnections: 10_000,
      localRateLimit: { statPrefix: 'edge_backstop', maxTokens: 200, tokensPerFill: 10, fillIntervalMs: 50, responseHeaders: { 'retry-after': '1' } },
      smallBodyBuffer: { header: 'content-length', pattern: /^(?:^[0-9]{1,4}$)$/, maxRequestBytes: 10_000 },
      authzMaxConnections: 64,
    });
  });

  it("takes Envoy's defaults for what the file leaves out", () => {
    const doc = realDoc();
    const hcm = hcmOf(doc);
    delete hcm.request_headers_timeout;
    delete hcm.stream_idle_timeout;
    delete hcm.max_request_headers_kb;
    const common = dig(hcm, 'common_http_protocol_options');
    delete common.idle_timeout;
    delete common.max_headers_count;
    delete doc.overload_manager;
    delete dig(doc, 'static_resources', 'clusters', 0).circuit_breakers;
    delete dig(doc, 'static_resources', 'clusters', 0).typed_extension_protocol_options;
    hcm.http_filters = list(hcm, 'http_filters').filter((f) => f.name !== 'envoy.filters.http.local_ratelimit' && f.name !== 'envoy.filters.http.composite');
    const { protections } = parseEnvoyConfig(stringify(doc), 'edited.yaml');
    assert.deepEqual(protections, {
      requestHeadersTimeoutMs: 0,
      streamIdleTimeoutMs: 300_000,
      idleTimeoutMs: 3_600_000,
      maxRequestHeadersBytes: 60 * 1024,
      maxHeadersCount: 100,
      maxDownstreamConnections: undefined,
      localRateLimit: undefined,
      smallBodyBuffer: undefined,
      authzMaxConnections: 1024,
    });
  });

  it("bounds the dev edge's HTTP/1.1 connections to authz by the circuit breaker when the authz cluster speaks HTTP/1.1, by its streams per connection when it speaks h2", () => {
    const h1 = realDoc();
    const options = dig(h1, 'static_resources', 'clusters', 0, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    options.explicit_http_config = { http_protocol_options: {} };
    dig(h1, 'static_resources', 'clusters', 0, 'circuit_breakers', 'thresholds', 0).max_connections = 48;
    assert.equal(parseEnvoyConfig(stringify(h1), 'edited.yaml').protections.authzMaxConnections, 48);
    const h2 = realDoc();
    dig(h2, 'static_resources', 'clusters', 0, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'explicit_http_config', 'http2_protocol_options').max_concurrent_streams = 32;
    assert.equal(parseEnvoyConfig(stringify(h2), 'edited.yaml').protections.authzMaxConnections, 32);
  });

  it('refuses a composite filter it could not reproduce: after the backstop, two matchers, another action', () => {
    const after = realDoc();
    const filters = list(hcmOf(after), 'http_filters');
    const at = filters.findIndex((f) => f.name === 'envoy.filters.http.composite');
    const [composite] = filters.splice(at, 1);
    filters.splice(at + 1, 0, composite!);
    rejects(after, /composite filter only as a buffer before the local_ratelimit/);
    const two = realDoc();
    const matchers = list(compositeOf(two), 'typed_config', 'xds_matcher', 'matcher_list', 'matchers');
    matchers.push(matchers[0]!);
    rejects(two, /one matcher/);
    const other = realDoc();
    dig(list(compositeOf(other), 'typed_config', 'xds_matcher', 'matcher_list', 'matchers')[0], 'on_match', 'action', 'typed_config', 'typed_config', 'typed_config')['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
    rejects(other, /buffer\.v3\.Buffer/);
  });

  it('refuses a local rate limit it could not reproduce: a partial fraction, descriptors', () => {
    const partial = realDoc();
    dig(localRateLimitOf(partial), 'filter_enforced', 'default_value').numerator = 50;
    rejects(partial, /filter_enforced.*numerator 100/);
    const descriptors = realDoc();
    localRateLimitOf(descriptors).descriptors = [{ entries: [] }];
    rejects(descriptors, /descriptors/);
  });

  it('refuses a local reply mapper it could not reproduce, naming its field', () => {
    const doc = realDoc();
    list(hcmOf(doc), 'local_reply_config', 'mappers').push({ filter: { header_filter: { header: { name: 'x' } } }, body_format_override: { json_format: { error: 'x' } } });
    rejects(doc, /local_reply_config\.mappers\[\d+\]\.filter/);
    const text = realDoc();
    dig(hcmOf(text), 'local_reply_config', 'mappers', 0).body_format_override = { text_format: 'oops' };
    rejects(text, /json_format bodies only/);
  });

  it('answers every local reply the edge writes with the JSON shape, and passes authz denials through', () => {
    const { localReplies } = loadEnvoyConfig(ENVOY_YAML);
    const cases: Array<[number, string[], string | undefined]> = [
      [503, ['UAEX'], 'unavailable'],
      [503, ['UF'], 'unavailable'],
      [429, ['RL'], 'rate_limited'],
      [400, ['DPE'], 'bad_request'],
      [404, ['NR'], 'not_found'],
      [408, ['SI'], 'request_timeout'],
      [431, ['DPE'], 'request_header_fields_too_large'],
      [504, ['UT'], 'upstream_timeout'],
      [426, ['DPE'], 'edge_error'],
      [401, ['UAEX'], undefined],
      [403, ['UAEX'], undefined],
      [429, ['UAEX'], undefined],
    ];
    for (const [status, flags, error] of cases) {
      const rewrite = localReplies.rewriteFor({ status, flags });
      assert.equal(rewrite === undefined ? undefined : (JSON.parse(rewrite.body('id-1')) as { error: string }).error, error, `${status} ${flags.join(',')}`);
    }
    assert.equal(localReplies.rewriteFor({ status: 503, flags: ['UAEX'] })?.headers['retry-after'], '1');
    assert.equal(localReplies.rewriteFor({ status: 400, flags: [] })?.body(undefined), '{"error":"bad_request","request_id":null}\n');
  });
});

describe('envoy.yaml TLS parameters', () => {
  /** Every tls_params of the file: the listener's and each cluster's. */
  function tlsParams(doc: Doc): Array<{ where: string; params: Doc }> {
    const out: Array<{ where: string; params: Doc }> = [];
    const params = (socketOwner: Doc): Doc => dig(socketOwner, 'transport_socket', 'typed_config', 'common_tls_context', 'tls_params');
    for (const l of list(doc, 'static_resources', 'listeners')) {
      for (const fc of list(l, 'filter_chains')) out.push({ where: `listener ${String(l.name)}`, params: params(fc) });
    }
    for (const c of list(doc, 'static_resources', 'clusters')) out.push({ where: `cluster ${String(c.name)}`, params: params(c) });
    return out;
  }

  it("gives the listener and both clusters exactly the TLS 1.2 suites of src/shared/tls/tls-profile.ts", () => {
    const all = tlsParams(realDoc());
    assert.deepEqual(all.map((t) => t.where), ['listener edge_https', 'cluster authz', 'cluster rating_api']);
    for (const { where, params } of all) {
      assert.deepEqual(params.cipher_suites, [...TLS12_CIPHERS], `${where}: cipher_suites`);
      assert.equal(params.tls_minimum_protocol_version, 'TLSv1_2', `${where}: TLS 1.2 at least`);
    }
  });

  it('lists only ECDHE key exchange with AEAD ciphers: no static RSA, no CBC, no SHA-1 MAC', () => {
    for (const suite of TLS12_CIPHERS) assert.match(suite, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });
});
