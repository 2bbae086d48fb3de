import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadEnvoyConfig, matches, parseEnvoyConfig, type StringMatcher } from '../../../src/edge/envoy-config.js';
import { ConfigError } from '../../../src/shared/errors.js';

const ENVOY_YAML = fileURLToPath(new URL('../../../envoy/envoy.yaml', import.meta.url));

/** The exact names a matcher list admits, for comparing with DESIGN.md's header lists. */
function exactNames(list: readonly StringMatcher[]): string[] {
  return list.map((m) => {
    assert.ok('exact' in m, `expected only exact matchers, got ${JSON.stringify(m)}`);
    return m.exact;
  });
}

/** The real envoy.yaml as a plain object, edited by each failure-mode test. */
function realDoc(): Record<string, unknown> {
  return parse(readFileSync(ENVOY_YAML, 'utf8')) as Record<string, unknown>;
}

/** The http_filters array of the real config's only connection manager (mutable). */
function httpFilters(doc: Record<string, unknown>): Record<string, unknown>[] {
  const listeners = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: { http_filters: Record<string, unknown>[] } }[] }[] }[] }).listeners;
  const hcm = listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
  assert.ok(hcm, 'the real config has a connection manager at listeners[0].filter_chains[0].filters[0]');
  return hcm.http_filters;
}

function extAuthzConfig(doc: Record<string, unknown>): Record<string, unknown> {
  const f = httpFilters(doc).find((x) => x.name === 'envoy.filters.http.ext_authz');
  assert.ok(f, 'the real config has an ext_authz filter');
  return f.typed_config as Record<string, unknown>;
}

function rejects(doc: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseEnvoyConfig(stringify(doc), 'edited.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.code, 'envoy_config');
      assert.match(err.message, /^edited\.yaml: /);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('envoy-config: the dev edge reading envoy/envoy.yaml', () => {
  it('reads the ext_authz prefix, the 250 ms timeout and fail-closed mode that DESIGN.md states', () => {
    const config = loadEnvoyConfig(ENVOY_YAML);
    assert.equal(config.authz.pathPrefix, '/check');
    assert.equal(config.authz.timeoutMs, 250);
    assert.equal(config.authz.failureModeAllow, false);
    assert.equal(config.authz.statusOnError, 503);
  });

  it('reads exactly the header allow-lists of the ext_authz contract', () => {
    const { authz } = loadEnvoyConfig(ENVOY_YAML);
    assert.deepEqual(exactNames(authz.allowedRequestHeaders), ['authorization', 'sec-websocket-protocol', 'x-forwarded-client-cert', 'x-request-id', 'host', 'content-type', 'content-length']);
    assert.deepEqual(exactNames(authz.allowedUpstreamHeaders), ['x-zt-subject', 'x-zt-tenant', 'x-zt-roles', 'x-zt-client']);
    assert.deepEqual(exactNames(authz.allowedClientHeaders), ['www-authenticate', 'retry-after', 'content-type', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'x-request-id']);
    assert.deepEqual(exactNames(authz.allowedClientHeadersOnSuccess), ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);
  });

  it('reads the x-zt- stripping that runs before ext_authz and the SANITIZE_SET XFCC settings, the certificate included', () => {
    const config = loadEnvoyConfig(ENVOY_YAML);
    assert.deepEqual(config.removedRequestHeaderPrefixes, ['x-zt-']);
    assert.deepEqual(config.xfcc, { mode: 'SANITIZE_SET', subject: true, uri: true, cert: true, hash: true });
  });

  it('returns a frozen object, so the edge cannot drift from the file at run time', () => {
    const config = loadEnvoyConfig(ENVOY_YAML);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.authz.allowedRequestHeaders));
    assert.ok(Object.isFrozen(config.authz.allowedRequestHeaders[0]));
  });

  it('matches header names case-insensitively on the name and as Envoy does on the pattern', () => {
    const { authz } = loadEnvoyConfig(ENVOY_YAML);
    assert.equal(matches(authz.allowedRequestHeaders, 'X-Forwarded-Client-Cert'), true);
    assert.equal(matches(authz.allowedRequestHeaders, 'cookie'), false);
    assert.equal(matches(authz.allowedUpstreamHeaders, 'x-zt-admin'), false);
    const list: StringMatcher[] = [
      { prefix: 'x-ratelimit-', ignoreCase: false },
      { suffix: '-id', ignoreCase: false },
      { contains: 'auth', ignoreCase: false },
      { exact: 'Retry-After', ignoreCase: true },
      { exact: 'Content-Type', ignoreCase: false },
    ];
    assert.equal(matches(list, 'X-RateLimit-Reset'), true);
    assert.equal(matches(list, 'x-request-id'), true);
    assert.equal(matches(list, 'www-authenticate'), true);
    assert.equal(matches(list, 'retry-after'), true);
    // Envoy holds names in lower case, so a mixed-case exact pattern without ignore_case never matches.
    assert.equal(matches(list, 'content-type'), false);
    assert.equal(matches([], 'authorization'), false);
  });

  it('rejects a config without an ext_authz filter, naming the filter list', () => {
    const doc = realDoc();
    const filters = httpFilters(doc);
    filters.splice(filters.findIndex((f) => f.name === 'envoy.filters.http.ext_authz'), 1);
    rejects(doc, /http_filters: no envoy\.filters\.http\.ext_authz filter/);
  });

  it('rejects a regex header matcher that the dev edge cannot reproduce, naming its field', () => {
    const doc = realDoc();
    const at = (extAuthzConfig(doc).allowed_headers as { patterns: unknown[] }).patterns.push({ safe_regex: { regex: '^x-.*' } }) - 1;
    const filter = httpFilters(doc).findIndex((f) => f.name === 'envoy.filters.http.ext_authz');
    rejects(doc, new RegExp(`http_filters\\[${filter}\\]\\.typed_config\\.allowed_headers\\.patterns\\[${at}\\]: safe_regex is not supported`));
  });

  it('rejects an XFCC mode other than SANITIZE_SET', () => {
    const doc = realDoc();
    const hcm = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] }).listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
    assert.ok(hcm);
    hcm.forward_client_cert_details = 'APPEND_FORWARD';
    rejects(doc, /forward_client_cert_details: the dev edge implements SANITIZE_SET only/);
  });

  it('rejects a gRPC ext_authz service, which the dev edge does not speak', () => {
    const doc = realDoc();
    const authz = extAuthzConfig(doc);
    delete authz.http_service;
    authz.grpc_service = { envoy_grpc: { cluster_name: 'authz' } };
    rejects(doc, /http_service: the dev edge only reproduces an HTTP ext_authz service/);
  });

  it('reads the route table: the /v1/ prefix to the rating_api cluster with its 5 s timeout, accepting WebSocket upgrades', () => {
    const { routes } = loadEnvoyConfig(ENVOY_YAML);
    assert.deepEqual(routes, [{ prefix: '/v1/', cluster: 'rating_api', timeoutMs: 5000, upgrades: ['websocket'] }]);
  });

  it('takes the upgrades a route accepts as Envoy does: the route\'s own entry over the connection manager\'s', () => {
    const upgradesWith = (hcmUpgrades: unknown, routeUpgrades: unknown): readonly string[] => {
      const doc = realDoc();
      const hcm = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] }).listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
      assert.ok(hcm);
      const route = (hcm.route_config as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] }).virtual_hosts[0]?.routes[0];
      assert.ok(route);
      if (hcmUpgrades === undefined) delete hcm.upgrade_configs;
      else hcm.upgrade_configs = hcmUpgrades;
      if (routeUpgrades === undefined) delete route.route.upgrade_configs;
      else route.route.upgrade_configs = routeUpgrades;
      return parseEnvoyConfig(stringify(doc), 'edited.yaml').routes[0]?.upgrades ?? [];
    };
    assert.deepEqual(upgradesWith(undefined, undefined), [], 'none configured: Envoy answers an upgrade 403 upgrade_failed');
    assert.deepEqual(upgradesWith([{ upgrade_type: 'WebSocket' }], undefined), ['websocket'], 'the connection manager\'s, in lower case');
    assert.deepEqual(upgradesWith([{ upgrade_type: 'websocket' }], [{ upgrade_type: 'websocket', enabled: false }]), [], 'a route disables one');
    assert.deepEqual(upgradesWith(undefined, [{ upgrade_type: 'websocket' }, { upgrade_type: 'CONNECT', enabled: false }]), ['websocket']);
  });

  it('rejects a route match the dev edge cannot reproduce, naming its field', () => {
    const doc = realDoc();
    const hcm = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] }).listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
    const route = (hcm?.route_config as { virtual_hosts: { routes: { match: Record<string, unknown> }[] }[] }).virtual_hosts[0]?.routes[0];
    assert.ok(route);
    route.match = { safe_regex: { regex: '^/v1/.*' } };
    rejects(doc, /route_config\.virtual_hosts\[0\]\.routes\[0\]\.match/);
  });

  it('rejects a timeout that is not a protobuf duration', () => {
    const doc = realDoc();
    ((extAuthzConfig(doc).http_service as Record<string, Record<string, unknown>>).server_uri ?? {}).timeout = '250ms';
    rejects(doc, /server_uri\.timeout: /);
  });

  it('names the file when it cannot be read', () => {
    assert.throws(() => loadEnvoyConfig('/nonexistent/envoy.yaml'), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'envoy_config');
      assert.match(err.message, /ENVOY_CONFIG \/nonexistent\/envoy\.yaml: cannot read/);
      return true;
    });
  });
});
