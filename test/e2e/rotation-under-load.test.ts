import assert from 'node:assert/strict';
import { request, Agent } from 'node:https';
import tls from 'node:tls';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { withPkiLock } from '../../src/pki/lock.js';
import { rotate } from '../../src/pki/rotate.js';
import { EDGE_KINDS, givenStack, ratingsPath, type Address, type TestStack } from '../helpers/given-stack.js';

/** The serial a NEW TLS connection to `at` is served, as openssl prints it. */
function servedSerial(at: Address, client: { cert: string; key: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...at, ...client }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/** Forced rotations of every certificate the test waits for, back to back, under the load. */
const MIN_ROTATIONS = 5;

for (const edgeKind of EDGE_KINDS) {
  describe(`certificate rotation under load through the ${edgeKind === 'envoy' ? 'real Envoy' : 'dev edge'}`, function () {
    this.timeout(300_000);
    let s: TestStack;

    before(async function () {
      s = await givenStack({ edge: edgeKind });
    });
    after(async () => s?.stop());

    it('serves a steady 50 requests/s with 0 failures for at least 15 s and 5 back-to-back forced rotations of every certificate, and new connections see new serials', async function () {
      const client = await s.pki.tls('client-alice');
      const token = await s.token({ roles: ['viewer'], tier: 'enterprise' });
      const edgeAt = s.edgeAddress('us-east');
      const serials = async () => ({
        edge: await servedSerial(edgeAt, client),
        authz: await servedSerial(s.serviceAddress('authz'), client),
        rating: await servedSerial(s.serviceAddress('rating'), client),
      });
      const before = await serials();
      const contextUpdates = async (): Promise<number> => (await s.envoy('us-east')?.stats())?.get('listener.0.0.0.0_8443.server_ssl_socket_factory.ssl_context_update_by_sds') ?? 0;
      const updatesBefore = await contextUpdates();

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
            { host: edgeAt.host, port: edgeAt.port, servername: edgeAt.servername, path: ratingsPath('steady'), method: 'GET', agent, headers: { authorization: `Bearer ${token}` } },
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
      // Paced by the clock, not by timer ticks: a rotation signs certificates on this event loop
      // (node-forge), and ticks missed meanwhile are made up, so the offered load stays 50/s.
      const load = setInterval(() => {
        while (sent < Math.floor((Date.now() - started) / 20)) fire();
      }, 20);
      let rotations = 0;
      try {
        // A count of rotations, not a rate: how long one takes depends on the machine, not on the edge.
        while (Date.now() - started < durationMs || rotations < MIN_ROTATIONS) {
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
      assert.ok(rotations >= MIN_ROTATIONS, `only ${rotations} rotations ran`);

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
      const envoy = s.envoy('us-east');
      if (envoy !== undefined) {
        // Envoy took every new certificate and bundle through SDS, and failed none of the swaps.
        const stats = await envoy.stats();
        for (const secret of ['edge_cert', 'trust_bundle']) {
          assert.equal(stats.get(`sds.${secret}.key_rotation_failed`), 0, `sds.${secret}.key_rotation_failed`);
        }
        const updates = (await contextUpdates()) - updatesBefore;
        assert.ok(updates > 0, 'the listener took new certificates through SDS');
        this.test!.title += ` (Envoy: ${updates} SDS context updates, key_rotation_failed 0)`;
      }
      this.test!.title += ` (${sent} requests, ${rotations} rotations)`;
    });
  });
}
