import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EDGE_KINDS, ENVOY_YAML } from '../../helpers/edge-under-test.js';
import { isRefusal, StreamClient } from '../../helpers/stream-client.js';
import { useEdgeFixture } from './given-edge.js';

/** envoy/envoy.yaml without the route's `upgrade_configs` line: a route that accepts no upgrade. */
const NO_UPGRADES_YAML = join(tmpdir(), `zt-envoy-no-upgrades-${process.pid}.yaml`);

/**
 * An upgrade the route does not accept. With envoy/envoy.yaml's route (`upgrade_configs:
 * websocket`) the stream's handshake goes through (test/e2e/rating-stream.test.ts, both edges).
 * Without it, Envoy 1.40 answers a WebSocket handshake itself, before any filter: 403,
 * `connection: close`, `response_code_details` upgrade_failed, and the body its
 * local_reply_config gives every other edge answer. Both edges run the same edited copy here.
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: an upgrade the route does not accept`, () => {
    before(() => {
      const yaml = readFileSync(ENVOY_YAML, 'utf8').replace(/^\s+upgrade_configs:.*$/m, '');
      assert.doesNotMatch(yaml, /upgrade_configs/);
      writeFileSync(NO_UPGRADES_YAML, yaml);
    });
    const fixture = useEdgeFixture(kind, { envoyConfig: NO_UPGRADES_YAML });

    it('answers 403 edge_error and closes, without asking authz or the rating API', async () => {
      const { edge, pki, authz, rating } = fixture();
      const r = await StreamClient.open(edge.address, '/v1/tenants/acme/items/i1/ratings/stream', {
        ...(await pki.tls('client-alice')),
        headers: { authorization: 'Bearer x.y.z' },
      });
      assert.ok(isRefusal(r), `expected a refusal, got ${JSON.stringify(r)}`);
      assert.equal(r.status, 403);
      assert.equal(r.error, 'edge_error');
      assert.match(r.body, /"request_id":"[^"]+"/);
      assert.equal(r.headers.connection, 'close');
      assert.equal(r.headers.server, 'envoy');
      const line = await edge.accessLine((l) => l.response_code_details === 'upgrade_failed');
      assert.equal(line.status, 403);
      assert.equal(line.upstream_cluster, 'rating_api');
      assert.equal(authz.arrivals, 0);
      assert.equal(rating.arrivals, 0);
    });
  });
}
