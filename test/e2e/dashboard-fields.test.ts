import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { dashboardQueries, jsonFields } from '../helpers/logql-fields.js';
import { REPO_ROOT, runScript } from '../helpers/run-script.js';
import { givenStack, ratingsPath, type TestStack } from '../helpers/given-stack.js';
import { StreamClient } from '../helpers/stream-client.js';
import { waitFor } from '../helpers/wait-for.js';

const DASHBOARD = resolve(REPO_ROOT, 'compose/grafana/dashboards/zero-trust.json');

/** The JSON log lines a child printed: the stack prefixes each with `<name> | `. */
function jsonLines(lines: readonly string[], child: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of lines) {
    const bar = line.indexOf(' | ');
    if (bar === -1 || line.slice(0, bar).trim() !== child) continue;
    try {
      out.push(JSON.parse(line.slice(bar + 3)) as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

describe('the Grafana dashboard against the logs the services really write', function () {
  this.timeout(180_000);
  let s: TestStack;
  let rotatorLines: Record<string, unknown>[];

  before(async function () {
    // The shipped policy data: acme on its demo tier, free, which the decision lines must name.
    s = await givenStack({ tenants: {} });
    const edge = await s.edge('us-east');
    const token = await s.token({ sub: 'dash' });
    // An allow, a write, a 429 and a cross-region deny, so every panel has lines to count.
    for (let i = 0; i < 6; i++) await edge.post(ratingsPath(`dash-${i}`)).set('authorization', `Bearer ${token}`).send({ score: 4 });
    await (await s.edge('eu-central')).get(ratingsPath('dash-0')).set('authorization', `Bearer ${token}`);
    // A stream opened and closed by its client, and one closed with 4003 for a denied publish.
    const tls = await s.pki.tls('client-alice');
    const viewerToken = await s.token({ sub: 'dash-viewer', roles: ['viewer'] });
    for (const publish of [false, true]) {
      const stream = await StreamClient.connect(s.edgeAddress('us-east'), `${ratingsPath('dash-0')}/stream`, { ...tls, headers: { authorization: `Bearer ${viewerToken}` } });
      await stream.next('snapshot');
      if (publish) {
        stream.send({ type: 'rate', id: 'no', score: 1 });
        assert.equal((await stream.waitClosed()).code, 4003);
      } else {
        await stream.close();
      }
    }
    await waitFor('both streams\' close lines', () => (jsonLines(s.lines, 'rating').filter((l) => l.msg === 'stream' && l.event === 'closed').length >= 2 ? true : undefined));
    const rotated = await runScript('rotate-certs', ['--dry-run'], { ZT_PKI_DIR: s.pki.dir, ZT_PKI_CONFIG: s.pki.configFile });
    assert.equal(rotated.code, 0, rotated.stderr);
    rotatorLines = rotated.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  });
  after(async () => s?.stop());

  it('finds every JSON field a query names in a real log line of the message the query selects', function () {
    const sources: Record<string, Record<string, unknown>[]> = {
      authz: jsonLines(s.lines, 'authz'),
      rating: jsonLines(s.lines, 'rating'),
      pki: rotatorLines,
    };
    const queries = dashboardQueries(DASHBOARD);
    assert.ok(queries.length >= 6);
    for (const q of queries) {
      const service = /\{service="([^"]+)"\}/.exec(q.expr)?.[1];
      const msg = /msg="([^"]+)"/.exec(q.expr)?.[1];
      assert.ok(service && msg, `${q.panel}: the query names no service or msg`);
      const candidates = (sources[service] ?? []).filter((l) => l.msg === msg);
      assert.ok(candidates.length > 0, `${q.panel}: no real ${service} line with msg=${msg}`);
      for (const field of jsonFields(q.expr)) {
        assert.ok(
          candidates.some((l) => field in l && l[field] !== undefined && l[field] !== null),
          `${q.panel}: field "${field}" is in no real ${service} "${msg}" line; e.g. ${JSON.stringify(candidates[0])}`,
        );
      }
    }
  });

  it('sees a 429 decision with a tier and a cross-region deny with the edge region', function () {
    const decisions = jsonLines(s.lines, 'authz').filter((l) => l.msg === 'decision');
    assert.ok(decisions.some((d) => d.status === 429 && d.tier === 'free'), 'a 429 decision with tier free');
    assert.ok(decisions.some((d) => d.reason === 'cross_region' && d.edge_region === 'eu-central'));
    assert.ok(decisions.every((d) => typeof d.latency_us === 'number'));
    assert.ok(decisions.every((d) => !JSON.stringify(d).includes('eyJ')), 'no token in the decision log');
  });
});
