import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildApp } from '../../../src/edge/app.js';
import { loadConfig } from '../../../src/edge/config.js';
import { createDeps } from '../../../src/edge/create-deps.js';
import { createLogger } from '../../../src/shared/logger.js';
import { startService, type RunningService } from '../../../src/shared/service.js';
import { ENVOY_YAML } from '../../helpers/edge-under-test.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { isRefusal, StreamClient } from '../../helpers/stream-client.js';
import { waitFor } from '../../helpers/wait-for.js';

/**
 * An upgrade the route does not accept. With envoy/envoy.yaml's route (`upgrade_configs:
 * websocket`) the stream's handshake goes through (test/e2e/rating-stream.test.ts, both edges).
 * Without it, Envoy 1.40 answers a WebSocket handshake itself, before any filter: 403, an empty
 * body, `connection: close`, `response_code_details` upgrade_failed (observed on the shipped
 * config with the line removed). The dev edge reads the same line from the same file and must do
 * the same; Envoy cannot run an edited copy in the test sandbox, so this is the dev edge's test.
 */
describe('dev edge: an upgrade the route does not accept', () => {
  let pki: TestPki;
  let edge: RunningService;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    pki = await givenPki();
    const yaml = (await readFile(ENVOY_YAML, 'utf8')).replace(/^\s+upgrade_configs:.*$/m, '');
    assert.doesNotMatch(yaml, /upgrade_configs/);
    const config = join(pki.dir, 'envoy-no-upgrades.yaml');
    await writeFile(config, yaml);
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    edge = await startService(
      { name: 'edge', loadConfig, createDeps: (c) => createDeps(c, { logger: createLogger('edge', { destination }) }), buildApp },
      {
        ZT_PKI_DIR: pki.dir,
        ZT_PKI_CONFIG: pki.configFile,
        EDGE_REGION: 'us-east',
        EDGE_LISTEN: '127.0.0.1:0',
        EDGE_ADMIN_LISTEN: '127.0.0.1:0',
        ENVOY_CONFIG: config,
        // Never reached: the upgrade is refused before ext_authz.
        AUTHZ_URL: 'https://127.0.0.1:9',
        RATING_URL: 'https://127.0.0.1:9',
      },
    );
  });
  after(async () => {
    await edge?.stop();
    await pki.cleanup();
  });

  it('answers 403 with an empty body and closes, as Envoy does, without asking authz', async () => {
    const r = await StreamClient.open({ host: '127.0.0.1', port: edge.ports.port ?? 0, servername: 'localhost' }, '/v1/tenants/acme/items/i1/ratings/stream', {
      ...(await pki.tls('client-alice')),
      headers: { authorization: 'Bearer x.y.z' },
    });
    assert.ok(isRefusal(r));
    assert.equal(r.status, 403);
    assert.equal(r.body, '');
    assert.equal(r.headers.connection, 'close');
    assert.equal(r.headers.server, 'envoy');
    const line = await waitFor('the access line', () => lines.find((l) => l.msg === 'access'));
    assert.equal(line.response_code_details, 'upgrade_failed');
    assert.equal(line.status, 403);
    assert.equal(line.upstream_cluster, 'rating_api');
  });
});
