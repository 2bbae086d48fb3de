import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { floorEdits, raiseBackstop, referencesEdits } from '../../../bench/envoy-copy.js';
import { foldRounds, goalsOf, type PhaseRun } from '../../../bench/edge-report.js';
import type { AttackResult } from '../../../bench/vegeta.js';

const shipped = (): ReturnType<typeof parseDocument> => parseDocument(readFileSync('envoy/envoy.yaml', 'utf8'));
const HCM = ['static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config'];
const filterNames = (doc: ReturnType<typeof parseDocument>): string[] => (doc.toJS() as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: { name: string }[] } }[] }[] }[] } }).static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.map((f) => f.name);
const clusterNames = (doc: ReturnType<typeof parseDocument>): string[] => (doc.toJS() as { static_resources: { clusters: { name: string }[] } }).static_resources.clusters.map((c) => c.name);

describe('bench:edge Envoy copies: the same edge with a different policy layer', () => {
  it('raises the backstop and says from what', () => {
    const doc = shipped();
    assert.match(raiseBackstop(doc), /200 tokens, 10 per 0\.05s -> 1e7/);
  });

  it('the floor has no ext_authz, no rate limit and no authz cluster, and sets the identity headers on the route', () => {
    const doc = shipped();
    floorEdits(doc);
    // The small-body buffer (composite) is the edge's own, in front of whatever policy layer runs.
    assert.deepEqual(filterNames(doc), ['envoy.filters.http.header_mutation', 'envoy.filters.http.composite', 'envoy.filters.http.router']);
    assert.deepEqual(clusterNames(doc), ['rating_api']);
    const added = doc.getIn([...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0, 'request_headers_to_add']) as { toJSON(): { header: { key: string } }[] };
    assert.deepEqual(added.toJSON().map((h) => h.header.key), ['x-zt-subject', 'x-zt-tenant', 'x-zt-roles', 'x-zt-client']);
  });

  it('the references ask opa-envoy over gRPC with the shipped timeout, then envoyproxy/ratelimit, before the router', () => {
    const doc = shipped();
    referencesEdits(doc, { opaGrpc: 9191, ratelimitGrpc: 8081 });
    assert.deepEqual(filterNames(doc), ['envoy.filters.http.header_mutation', 'envoy.filters.http.composite', 'envoy.filters.http.ext_authz', 'envoy.filters.http.ratelimit', 'envoy.filters.http.router']);
    assert.deepEqual(clusterNames(doc), ['rating_api', 'opa_envoy', 'ratelimit']);
    const authz = doc.getIn([...HCM, 'http_filters', filterNames(doc).indexOf('envoy.filters.http.ext_authz'), 'typed_config']) as { toJSON(): Record<string, unknown> };
    assert.deepEqual(authz.toJSON().grpc_service, { envoy_grpc: { cluster_name: 'opa_envoy' }, timeout: '0.250s' });
    assert.equal(authz.toJSON().http_service, undefined);
    assert.equal(authz.toJSON().failure_mode_allow, false);
  });
});

describe('bench:edge report: rounds folded, ratios from one run', () => {
  const result = (requests: number, perS: number, p99: number): AttackResult => ({ requests, rate: perS, throughput: perS * 0.9, answered_per_s: perS, mean_ms: 1, p50_ms: 1, p90_ms: 1, p99_ms: p99, max_ms: p99, status_codes: { '200': requests }, errors: [], loadgen_cpu_us: requests * 100 });
  const run = (stack: PhaseRun['stack'], phase: string, requests: number, perS: number, cpuUs: Record<string, number>): PhaseRun => ({ stack, phase, result: result(requests, perS, 10), cpuUs, newConnections: 64, tlsHandshakes: 64 });

  it('adds requests and CPU over rounds, and rates over the time they took', () => {
    const row = foldRounds([run('project', 'max', 1000, 500, { authz: 400_000 }), run('project', 'max', 3000, 1000, { authz: 800_000 })], result(4000, 0, 12));
    assert.equal(row.requests, 4000);
    assert.equal(row.answered_per_s, 800); // 4,000 requests in 2 s + 3 s
    assert.deepEqual(row.cpu_us_per_req, { authz: 300 });
    assert.equal(row.p99_ms, 12);
    assert.equal(row.tls_handshakes, 128);
  });

  it('compares the policy layers by what each adds to the floor, and leaves out what did not run', () => {
    const fold = (r: PhaseRun): ReturnType<typeof foldRounds> => foldRounds([r], r.result);
    const rows = [fold(run('floor', 'max', 1000, 1000, { envoy: 500_000 })), fold(run('project', 'max', 1000, 800, { envoy: 600_000, authz: 200_000 })), fold(run('references', 'max', 1000, 200, { envoy: 700_000, opa: 1_800_000 }))];
    const g = goalsOf(rows, 'max');
    assert.equal(g.max_rps_project_over_floor, 0.8);
    assert.equal(g.max_rps_project_over_references, 4);
    assert.deepEqual(g.added_cpu_us_per_req, { project: 300, references: 2000 });
    assert.equal(g.added_cpu_project_over_references, 0.15);
    assert.equal(g.p99_at_1000_project_over_floor, null);
    assert.equal(goalsOf(rows.slice(0, 2), 'max').max_rps_project_over_references, null);
  });
});
