import assert from 'node:assert/strict';
import { request, Agent } from 'node:https';
import tls from 'node:tls';
import { readWorkloadMaterial } from '../../src/pki/cert-files.js';
import { withPkiLock } from '../../src/pki/lock.js';
import { rotate } from '../../src/pki/rotate.js';
import { givenStack, ratingsPath, type TestStack } from './given-stack.js';

/** The serial a NEW TLS connection to `port` is served, as openssl prints it. */
function servedSerial(port: number, client: { cert: string; key: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...client }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('certificate rotation under load through the embedded stack', function () {
  this.timeout(300_000);
  let s: TestStack;

  before(async function () {
    s = await givenStack();
  });
  after(async () => s?.stop());

  it('serves a steady 50 requests/s for 15 s with 0 failures while every certificate is force-rotated once a second, and new connections see new serials', async function () {
    const client = await s.pki.tls('client-alice');
    const token = await s.token({ roles: ['viewer'], tier: 'enterprise' });
    const port = s.edgePort('us-east');
    const serials = async () => ({
      edge: await servedSerial(port, client),
      authz: await servedSerial(s.stack.ports.authz, client),
      rating: await servedSerial(s.stack.ports.rating, client),
    });
    const before = await serials();

    // A keep-alive agent with a few sockets, as a real client would hold; sockets also churn
    // (maxSockets with a short free-socket timeout) so that new handshakes happen during rotation.
    const agent = new Agent({ keepAlive: true, maxSockets: 8, timeout: 10_000, ...client });
    const failures: string[] = [];
    let sent = 0;
    let ok = 0;
    const inflight = new Set<Promise<void>>();
    const fire = (): void => {
      sent++;
      const p = new Promise<void>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port, path: ratingsPath('steady'), method: 'GET', agent, servername: 'localhost', headers: { authorization: `Bearer ${token}` } },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failures.push(`status ${res.statusCode}`);
              resolve();
            });
          },
        );
        req.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
        req.end();
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };

    const durationMs = 15_000;
    const started = Date.now();
    const load = setInterval(fire, 20);
    let rotations = 0;
    try {
      while (Date.now() - started < durationMs) {
        const tick = Date.now();
        const summary = await withPkiLock(s.pki.layout, () => rotate(s.pki.layout, s.pki.spec, { force: true }), { wait: true });
        assert.equal(summary.ok, true, summary.errors.join('; '));
        rotations++;
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
      }
    } finally {
      clearInterval(load);
      await Promise.all(inflight);
      agent.destroy();
    }

    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    assert.ok(sent >= 0.8 * (durationMs / 20), `only ${sent} requests were sent`);
    assert.equal(ok, sent);
    assert.ok(rotations >= 5, `only ${rotations} rotations ran`);

    // Services pick the swap up from a directory watch; give them a moment, bounded.
    const want = {
      edge: (await readWorkloadMaterial(s.pki.layout, 'edge-us-east')).info.serial,
      authz: (await readWorkloadMaterial(s.pki.layout, 'authz')).info.serial,
      rating: (await readWorkloadMaterial(s.pki.layout, 'rating-api')).info.serial,
    };
    let after = await serials();
    for (let i = 0; i < 50 && JSON.stringify(after) !== JSON.stringify(want); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await serials();
    }
    assert.deepEqual(after, want, 'new connections are served the newest certificates');
    assert.notEqual(after.edge, before.edge);
    assert.notEqual(after.authz, before.authz);
    assert.notEqual(after.rating, before.rating);
    this.test!.title += ` (${sent} requests, ${rotations} rotations)`;
  });
});
