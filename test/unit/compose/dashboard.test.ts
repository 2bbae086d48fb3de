import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { dashboardJsonFields, dashboardQueries, jsonFields, logqlErrors } from '../../helpers/logql-fields.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARD = join(ROOT, 'compose/grafana/dashboards/zero-trust.json');

/** The fields the services' log lines carry (DESIGN.md's decision log; the rating and rotator lines). */
const LOGGED_FIELDS = new Set([
  'level', 'time', 'service', 'msg',
  // authz, msg=decision
  'request_id', 'subject', 'tenant', 'tier', 'client_spiffe_id', 'edge_region', 'method', 'path', 'decision', 'reason', 'status', 'buckets', 'latency_us',
  // rating API, msg=rating_written / rating_deleted
  'item', 'score', 'created',
  // rating API, msg=stream (event opened / closed) and msg=stream_publish_denied
  'event', 'open_streams', 'close_code',
  // rotator, msg=cert_status
  'workload', 'spiffe_id', 'serial', 'not_after', 'seconds_left', 'renewed',
]);

describe('compose/grafana/dashboards/zero-trust.json', () => {
  const queries = dashboardQueries(DASHBOARD);

  it('is the "Zero Trust Rating API" dashboard on the provisioned Loki datasource', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: { datasource?: { uid?: string } }[] };
    assert.equal(dashboard.title, 'Zero Trust Rating API');
    const provisioned = parse(readFileSync(join(ROOT, 'compose/grafana/provisioning/datasources/loki.yaml'), 'utf8')) as { datasources: { uid: string; type: string }[] };
    const loki = provisioned.datasources.find((d) => d.type === 'loki');
    assert.ok(loki, 'a Loki datasource is provisioned');
    for (const p of dashboard.panels) assert.equal(p.datasource?.uid, loki.uid);
  });

  it('has the panels the operators need', () => {
    const titles = new Set(queries.map((q) => q.panel));
    for (const t of ['Decisions per minute by reason', '429s by tier', 'Cross-region denials by edge', 'Decision latency p50 / p99', 'Rating write rate', 'Certificate expiry', 'Open rating streams', 'Stream closes by code', 'Denied stream publishes']) {
      assert.ok(titles.has(t), `panel "${t}" exists and has a query`);
    }
  });

  it('has only queries that parse as LogQL', () => {
    assert.ok(queries.length >= 7);
    for (const q of queries) assert.deepEqual(logqlErrors(q.expr), [], `${q.panel} (${q.refId}): ${q.expr}`);
  });

  it('detects a broken query, so the parse check can fail', () => {
    assert.notDeepEqual(logqlErrors('sum by (reason) (count_over_time({service="authz"} | json | msg="decision" [1m]'), []);
    assert.notDeepEqual(logqlErrors('rate({service="authz"} | json | msg= [1m])'), []);
    assert.notDeepEqual(logqlErrors('count_over_time({service="authz"} | json [$__auto])'), [], 'Grafana variables in ranges are not LogQL');
  });

  it('computes latency quantiles from the decision log with unwrap latency_us and quantile_over_time', () => {
    const latency = queries.filter((q) => q.panel === 'Decision latency p50 / p99').map((q) => q.expr);
    assert.ok(latency.some((e) => e.startsWith('quantile_over_time(0.5,')));
    assert.ok(latency.some((e) => e.startsWith('quantile_over_time(0.99,')));
    for (const e of latency) assert.match(e, /\| json .*msg="decision".*\| unwrap latency_us/);
  });

  it('counts open streams from the open_streams of the stream lines, and closes by close_code', () => {
    const byPanel = (title: string): string[] => queries.filter((q) => q.panel === title).map((q) => q.expr);
    for (const e of byPanel('Open rating streams')) assert.match(e, /\{service="rating"\} \| json .*msg="stream" \| unwrap open_streams/);
    for (const e of byPanel('Stream closes by code')) assert.match(e, /^sum by \(close_code\) .*msg="stream" \| event="closed"/);
  });

  it('references only JSON fields that the services log', () => {
    const fields = dashboardJsonFields(DASHBOARD);
    assert.ok(fields.length > 0);
    for (const f of fields) assert.ok(LOGGED_FIELDS.has(f), `the dashboard uses field "${f}", which no service logs`);
    for (const f of ['latency_us', 'edge_region', 'tier', 'reason', 'seconds_left', 'workload', 'open_streams', 'close_code']) assert.ok(fields.includes(f), `the dashboard uses ${f}`);
  });

  it('tells JSON fields apart from stream labels and Loki internals', () => {
    const fields = jsonFields('sum by (service, tier) (count_over_time({service="authz", region="us-east"} | json | __error__="" | msg="decision" | status>=429 [1m]))');
    assert.deepEqual(fields.sort(), ['msg', 'status', 'tier']);
    assert.deepEqual(jsonFields('count_over_time({service="authz"} |= "decision" [1m])'), []);
  });
});
