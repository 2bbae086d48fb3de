import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { issueWorkload } from '../../../src/pki/authority.js';
import type { RatingDeps } from '../../../src/rating/create-deps.js';
import { createLogger } from '../../../src/shared/logger.js';
import { startService, type RunningService } from '../../../src/shared/service.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { captureLogs, ratingEnv, ratingService, type CapturedLogs, type Pem } from './rating-harness.js';
import { rawRequest } from './raw-request.js';
import { errorBody } from './response-shapes.js';
import { waitFor } from '../../helpers/wait-for.js';

/** The serial the server presents on a fresh handshake, in the PKI library's notation. */
function presentedSerial(port: number, pem: Pem): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'rating-api', ...pem }, () => {
      const serial = s.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
      s.destroy();
      resolve(serial);
    });
    s.once('error', reject);
  });
}

async function adminGet(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

describe('rating service: listeners, readiness and certificate hot reload', () => {
  let pki: TestPki;
  let service: RunningService | undefined;

  beforeEach(async () => {
    pki = await givenPki();
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await pki.cleanup();
  });

  /** Starts the service as main.ts does (its own store, from the settings), with captured logs. */
  async function start(env: NodeJS.ProcessEnv = {}): Promise<{ port: number; adminPort: number; deps: RatingDeps; logs: CapturedLogs }> {
    const logs = captureLogs();
    let deps: RatingDeps | undefined;
    const running = await startService(ratingService(createLogger('rating', { destination: logs.destination }), { opened: (d) => (deps = d) }), ratingEnv(pki, env));
    service = running;
    if (deps === undefined) throw new Error('createDeps did not run');
    return { port: running.ports.port ?? 0, adminPort: running.ports.admin_port ?? 0, deps, logs };
  }

  it('serves the API over mTLS and /healthz and /readyz on the plain-HTTP admin listener', async () => {
    const { port, adminPort, deps, logs } = await start();
    assert.notEqual(port, adminPort);
    assert.equal(deps.store.name, 'memory', 'no REDIS_URL: the memory store');
    assert.deepEqual(await adminGet(adminPort, '/healthz'), { status: 200, body: { status: 'ok' } });
    assert.deepEqual(await adminGet(adminPort, '/readyz'), { status: 200, body: { ready: true, failing: [] } });
    const edge = await pki.tls('edge-us-east');
    const res = await rawRequest(port, edge, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 200);
    const [listening] = logs.lines().filter((l) => l.port === port);
    assert.equal(listening?.admin_port, adminPort);
  });

  it('reports not ready on /readyz while its Redis store cannot connect', async () => {
    const { adminPort, deps } = await start({ REDIS_URL: 'rediss://127.0.0.1:1' });
    assert.equal(deps.store.name, 'redis');
    assert.deepEqual(await adminGet(adminPort, '/readyz'), { status: 503, body: { ready: false, failing: ['store:redis', 'feed:redis'] } });
  });

  it('presents a reissued certificate on new handshakes without a restart', async () => {
    const { port, deps, logs } = await start();
    const edge = await pki.tls('edge-us-east');
    const before = await presentedSerial(port, edge);
    assert.equal(before, deps.tls.material.serial);

    const issued = await issueWorkload(pki.layout, pki.spec, 'rating-api');
    assert.notEqual(issued.serial, before);
    const after = await waitFor('the new certificate on a new handshake', async () => {
      const serial = await presentedSerial(port, edge);
      return serial === before ? undefined : serial;
    });
    assert.equal(after, issued.serial);

    const res = await rawRequest(port, edge, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 200, 'edges still get through after the swap, on the same listener');
    const rotated = logs.withMsg('certificate_rotated');
    assert.deepEqual(rotated.map((l) => [l.serial, l.previous_serial]), [[issued.serial, before]]);
  });

  it('keeps requiring an edge client certificate after a reload', async () => {
    const { port, deps } = await start();
    const edge = await pki.tls('edge-us-east');
    const before = deps.tls.material.serial;
    await issueWorkload(pki.layout, pki.spec, 'rating-api');
    await waitFor('the reload', async () => ((await presentedSerial(port, edge)) === before ? undefined : true));
    await assert.rejects(rawRequest(port, { ca: edge.ca }, { method: 'GET', path: '/healthz' }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const alice = await pki.tls('client-alice');
    const res = await rawRequest(port, alice, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 403);
    assert.equal(errorBody.parse(JSON.parse(res.body)).error, 'untrusted_peer');
  });

  it('leaves no listener on the certificate once stopped', async () => {
    const { deps, logs } = await start();
    assert.ok(deps.tls.listenerCount('rotated') > 0);
    await service?.stop();
    service = undefined;
    assert.equal(deps.tls.listenerCount('rotated'), 0);
    assert.equal(deps.tls.listenerCount('error'), 0);
    await issueWorkload(pki.layout, pki.spec, 'rating-api');
    await deps.tls.reload();
    assert.equal(logs.withMsg('certificate_rotated').length, 0);
  });
});
