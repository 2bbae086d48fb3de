import assert from 'node:assert/strict';
import request from 'supertest';
import { ALICE, EdgeClient, givenAuthz, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const DECISION_FIELDS = [
  'request_id',
  'subject',
  'tenant',
  'tier',
  'client_spiffe_id',
  'edge_region',
  'method',
  'path',
  'decision',
  'reason',
  'status',
  'buckets',
  'latency_us',
];
// What pino adds to every line (createLogger): level, time, service and the message.
const PINO_FIELDS = ['level', 'time', 'service', 'msg'];

/** The admin listener and the decision log, which dashboards and health checks are built on. */
describe('authz: admin endpoints, metrics and the decision log', () => {
  let svc: RunningAuthz;
  let edge: EdgeClient;
  let admin: string;

  before(async () => {
    svc = await givenAuthz();
    edge = await EdgeClient.create(svc);
    admin = `http://127.0.0.1:${svc.adminPort}`;
  });

  after(async () => {
    edge.close();
    await svc.close();
  });

  it('answers /healthz and /readyz on the plain-HTTP admin listener', async () => {
    const health = await request(admin).get('/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await request(admin).get('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true, failing: [] });
  });

  it('does not serve health or metrics on the mTLS check listener', async () => {
    const res = await edge.check('GET', '/metrics');
    assert.equal(res.status, 404);
    assert.equal(res.json().error, 'not_found');
  });

  it('logs and counts a 404 outside /check like any other deny', async () => {
    const counted = async (): Promise<number> => {
      const metrics = (await request(admin).get('/metrics')).text;
      return Number(/^authz_decisions_total\{reason="not_found",decision="deny"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    };
    const before = await counted();
    const res = await edge.check('GET', '/checkout/v1?token=abc', { 'x-forwarded-client-cert': xfccFor(svc.pki, 'client-alice'), 'x-request-id': 'log-404-1' });
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['x-request-id'], 'log-404-1');
    assert.equal(res.body, '{"error":"not_found","request_id":"log-404-1"}');
    const lines = svc.decisions().filter((d) => d.request_id === 'log-404-1');
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.deepEqual(Object.keys(line).sort(), [...DECISION_FIELDS, ...PINO_FIELDS].sort());
    assert.deepEqual(
      { ...line, time: undefined, latency_us: undefined },
      {
        level: 'info',
        time: undefined,
        service: 'authz',
        msg: 'decision',
        request_id: 'log-404-1',
        subject: null,
        tenant: null,
        tier: null,
        client_spiffe_id: null,
        edge_region: 'us-east',
        method: 'GET',
        path: '/checkout/v1',
        decision: 'deny',
        reason: 'not_found',
        status: 404,
        buckets: {},
        latency_us: undefined,
      },
    );
    assert.equal(await counted(), before + 1);
  });

  it('writes one decision line per check with exactly the dashboard fields and no token', async () => {
    const token = await tokenFor(svc.pki, ALICE);
    const res = await edge.check('POST', '/check/v1/tenants/acme/items/i9/ratings?x=1', {
      authorization: `Bearer ${token}`,
      'x-forwarded-client-cert': xfccFor(svc.pki, 'client-alice'),
      'x-request-id': 'log-fields-1',
    });
    assert.equal(res.status, 200);
    const lines = svc.decisions().filter((d) => d.request_id === 'log-fields-1');
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.deepEqual(Object.keys(line).sort(), [...DECISION_FIELDS, ...PINO_FIELDS].sort());
    assert.equal(line.msg, 'decision');
    assert.deepEqual(
      { ...line, time: undefined, latency_us: undefined },
      {
        level: 'info',
        time: undefined,
        service: 'authz',
        msg: 'decision',
        request_id: 'log-fields-1',
        subject: 'alice',
        tenant: 'acme',
        tier: 'free',
        client_spiffe_id: svc.pki.spiffeId('client-alice'),
        edge_region: 'us-east',
        method: 'POST',
        path: '/v1/tenants/acme/items/i9/ratings',
        decision: 'allow',
        reason: 'allowed',
        status: 200,
        buckets: { global: 199, tenant: 59, user: 4 },
        latency_us: undefined,
      },
    );
    assert.ok(Number.isInteger(line.latency_us) && (line.latency_us as number) > 0);
    assert.ok(!JSON.stringify(svc.logs).includes(token.split('.')[2]!));
  });

  it('logs a deny with nulls for what is unknown', async () => {
    const res = await edge.check('GET', '/check/v1/tenants/acme/items/i1/ratings?access_token=abc', { 'x-request-id': 'log-deny-1' });
    assert.equal(res.status, 403);
    const line = svc.decisions().find((d) => d.request_id === 'log-deny-1');
    assert.deepEqual(Object.keys(line ?? {}).sort(), [...DECISION_FIELDS, ...PINO_FIELDS].sort());
    assert.equal(line?.decision, 'deny');
    assert.equal(line?.reason, 'no_client_cert');
    assert.equal(line?.status, 403);
    assert.equal(line?.subject, null);
    assert.equal(line?.client_spiffe_id, null);
    assert.equal(line?.edge_region, 'us-east');
    assert.equal(line?.path, '/v1/tenants/acme/items/i1/ratings', 'the query is never logged');
    assert.deepEqual(line?.buckets, {});
  });

  it('counts decisions by reason and times them in sub-millisecond buckets', async () => {
    await edge.check('GET', '/check/v1/tenants/acme/items/i1/ratings', { 'x-forwarded-client-cert': xfccFor(svc.pki, 'client-alice') });
    const metrics = (await request(admin).get('/metrics')).text;
    assert.match(metrics, /^authz_decisions_total\{reason="allowed",decision="allow"\} 1$/m);
    assert.match(metrics, /^authz_decisions_total\{reason="missing_token",decision="deny"\} 1$/m);
    assert.match(metrics, /^authz_decisions_total\{reason="no_client_cert",decision="deny"\} 1$/m);
    assert.match(metrics, /^authz_decision_duration_seconds_bucket\{le="0\.0001"\} \d+$/m);
    assert.match(metrics, /^authz_decision_duration_seconds_bucket\{le="0\.0005"\} \d+$/m);
    const count = /^authz_decision_duration_seconds_count (\d+)$/m.exec(metrics)?.[1];
    assert.equal(count, '3');
    assert.match(metrics, /^authz_bucket_store_errors_total 0$/m);
  });
});
