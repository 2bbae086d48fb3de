import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { issueWorkload } from '../../../src/pki/authority.js';
import { loadRatingConfig } from '../../../src/rating/config.js';
import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import { RedisRatingStore } from '../../../src/rating/rating-store-redis.js';
import { startRatingService, type RatingService } from '../../../src/rating/server.js';
import { createLogger } from '../../../src/shared/logger.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { captureLogs, type Pem } from './rating-harness.js';
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
  let service: RatingService | undefined;
  const stores: { close(): Promise<void> }[] = [];
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ZT_PKI_DIR: pki.dir,
    RATING_LISTEN: '127.0.0.1:0',
    RATING_ADMIN_LISTEN: '127.0.0.1:0',
    ...extra,
  });

  beforeEach(async () => {
    pki = await givenPki();
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await pki.cleanup();
  });

  it('serves the API over mTLS and /healthz and /readyz on the plain-HTTP admin listener', async () => {
    const config = await loadRatingConfig(env());
    const logs = captureLogs();
    service = await startRatingService(config, { store: new MemoryRatingStore(), logger: createLogger('rating', { destination: logs.destination }) });
    assert.notEqual(service.port, service.adminPort);
    assert.deepEqual(await adminGet(service.adminPort, '/healthz'), { status: 200, body: { status: 'ok' } });
    assert.deepEqual(await adminGet(service.adminPort, '/readyz'), { status: 200, body: { ready: true, failing: [] } });
    const edge = await pki.tls('edge-us-east');
    const res = await rawRequest(service.port, edge, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 200);
  });

  it('reports not ready on /readyz while its Redis store cannot connect', async () => {
    const config = await loadRatingConfig(env({ REDIS_URL: 'redis://127.0.0.1:1' }));
    const store = new RedisRatingStore({ url: 'redis://127.0.0.1:1' });
    stores.push(store);
    service = await startRatingService(config, { store, logger: createLogger('rating', { level: 'silent' }) });
    assert.deepEqual(await adminGet(service.adminPort, '/readyz'), { status: 503, body: { ready: false, failing: ['store:redis'] } });
  });

  it('presents a reissued certificate on new handshakes without a restart', async () => {
    const config = await loadRatingConfig(env());
    const logs = captureLogs();
    service = await startRatingService(config, { store: new MemoryRatingStore(), logger: createLogger('rating', { destination: logs.destination }) });
    const edge = await pki.tls('edge-us-east');
    const port = service.port;
    const before = await presentedSerial(port, edge);
    assert.equal(before, config.tls.material.serial);

    const issued = await issueWorkload(pki.layout, pki.spec, 'rating-api');
    assert.notEqual(issued.serial, before);
    const after = await waitFor('the new certificate on a new handshake', async () => {
      const serial = await presentedSerial(port, edge);
      return serial === before ? undefined : serial;
    });
    assert.equal(after, issued.serial);
    assert.equal(service.port, port, 'the same listener, not a restarted one');

    const res = await rawRequest(port, edge, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 200, 'edges still get through after the swap');
    const rotated = logs.withMsg('certificate_rotated');
    assert.deepEqual(rotated.map((l) => [l.serial, l.previous_serial]), [[issued.serial, before]]);
  });

  it('keeps requiring an edge client certificate after a reload', async () => {
    const config = await loadRatingConfig(env());
    service = await startRatingService(config, { store: new MemoryRatingStore(), logger: createLogger('rating', { level: 'silent' }) });
    const edge = await pki.tls('edge-us-east');
    const before = config.tls.material.serial;
    await issueWorkload(pki.layout, pki.spec, 'rating-api');
    const port = service.port;
    await waitFor('the reload', async () => ((await presentedSerial(port, edge)) === before ? undefined : true));
    await assert.rejects(rawRequest(port, { ca: edge.ca }, { method: 'GET', path: '/healthz' }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const alice = await pki.tls('client-alice');
    const res = await rawRequest(port, alice, { method: 'GET', path: '/healthz' });
    assert.equal(res.status, 403);
    assert.equal(errorBody.parse(JSON.parse(res.body)).error, 'untrusted_peer');
  });
});
