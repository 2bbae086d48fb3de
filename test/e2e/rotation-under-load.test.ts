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

/** The forced rotations of the acceptance, at most one a second (a rotation of every leaf can take longer on a busy machine). */
const ROTATIONS = 10;

/** The least time the load runs, rotations or not. */
const MIN_DURATION_MS = 15_000;

/**
 * A client as the README tells one to behave when its certificate rotates (24 h leaves, renewed at
 * 2/3): it notices the new certificate, mints a new token bound to it, and opens new connections
 * with the pair; requests already in flight finish on the old connections with the old token,
 * which stay valid together until the old certificate expires. acme requires bound tokens, so a
 * client that skipped the new token would be refused (401 invalid_token) on its new connections.
 */
class RotatingClient {
  agent: Agent;
  token: string;
  serial: string;
  remints = 0;
  readonly #retired: Agent[] = [];

  private constructor(
    private readonly s: TestStack,
    material: { cert: string; key: string; ca: string; serial: string },
    token: string,
  ) {
    this.agent = RotatingClient.agentFor(material);
    this.token = token;
    this.serial = material.serial;
  }

  static async create(s: TestStack): Promise<RotatingClient> {
    return new RotatingClient(s, await RotatingClient.current(s), await s.token({ roles: ['viewer'] }));
  }

  private static agentFor(m: { cert: string; key: string; ca: string }): Agent {
    // A keep-alive pool with a few sockets, as a real client holds; sockets also churn (a short
    // free-socket timeout) so that new handshakes happen during the rotations.
    return new Agent({ keepAlive: true, maxSockets: 8, timeout: 10_000, cert: m.cert, key: m.key, ca: m.ca });
  }

  private static async current(s: TestStack): Promise<{ cert: string; key: string; ca: string; serial: string }> {
    const m = await readWorkloadMaterial(s.pki.layout, 'client-alice');
    return { cert: m.certPem, key: m.keyPem, ca: m.caPem, serial: m.info.serial };
  }

  /** Picks up a rotated certificate: a token bound to it (read in the same pass), and a pool that presents it. */
  async follow(): Promise<void> {
    const m = await RotatingClient.current(this.s);
    if (m.serial === this.serial) return;
    const token = await this.s.token({ roles: ['viewer'] }, undefined, 'client-alice');
    // The token must be bound to the certificate the new pool presents: read them as one pair.
    const bound = (await readWorkloadMaterial(this.s.pki.layout, 'client-alice')).info.serial;
    if (bound !== m.serial) return; // rotated again in between; the next pass takes the newest
    this.#retired.push(this.agent);
    this.agent = RotatingClient.agentFor(m);
    this.token = token;
    this.serial = m.serial;
    this.remints++;
  }

  close(): void {
    for (const a of [this.agent, ...this.#retired]) a.destroy();
  }
}

for (const edgeKind of EDGE_KINDS) {
  describe(`certificate rotation under load through the ${edgeKind === 'envoy' ? 'real Envoy' : 'dev edge'}, with Redis as the store`, function () {
    this.timeout(300_000);
    let s: TestStack;

    before(async function () {
      s = await givenStack({ edge: edgeKind, redis: 'local' });
    });
    after(async () => s?.stop());

    it(`serves a steady 50 requests/s with 0 failures for at least 15 s and ${ROTATIONS} forced rotations of every certificate, the client re-minting its bound token after each, and new connections see new serials`, async function () {
      const client = await s.pki.tls('client-alice');
      const alice = await RotatingClient.create(s);
      const edgeAt = s.edgeAddress('us-east');
      const serials = async () => ({
        edge: await servedSerial(edgeAt, client),
        authz: await servedSerial(s.serviceAddress('authz'), client),
        rating: await servedSerial(s.serviceAddress('rating'), client),
      });
      const before = await serials();
      const contextUpdates = async (): Promise<number> => (await s.envoy('us-east')?.stats())?.get('listener.0.0.0.0_8443.server_ssl_socket_factory.ssl_context_update_by_sds') ?? 0;
      const updatesBefore = await contextUpdates();

      const failures: string[] = [];
      let sent = 0;
      let ok = 0;
      const inflight = new Set<Promise<void>>();
      const fire = (): void => {
        sent++;
        const p = new Promise<void>((resolve) => {
          const req = request(
            { host: edgeAt.host, port: edgeAt.port, servername: edgeAt.servername, path: ratingsPath('steady'), method: 'GET', agent: alice.agent, headers: { authorization: `Bearer ${alice.token}` } },
            (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => {
                if (res.statusCode === 200) ok++;
                else failures.push(`status ${res.statusCode} ${body.slice(0, 120)}`);
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

      const started = Date.now();
      // Paced by the clock, not by timer ticks: a rotation signs certificates on this event loop
      // (node-forge), and ticks missed meanwhile are made up, so the offered load stays 50/s.
      const load = setInterval(() => {
        while (sent < Math.floor((Date.now() - started) / 20)) fire();
      }, 20);
      // The client looks for a new certificate as often as a careful one would, a few times a second.
      const follow = setInterval(() => void alice.follow(), 250);
      let rotations = 0;
      try {
        while (rotations < ROTATIONS || Date.now() - started < MIN_DURATION_MS) {
          const tick = Date.now();
          const summary = await withPkiLock(s.pki.layout, () => rotate(s.pki.layout, s.pki.spec, { force: true }), { wait: true });
          assert.equal(summary.ok, true, summary.errors.join('; '));
          rotations++;
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
        }
        // Let the last rotation reach the client and the services under load too.
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        clearInterval(load);
        clearInterval(follow);
        await Promise.all(inflight);
        alice.close();
      }
      const durationMs = Date.now() - started;

      assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
      assert.ok(sent >= 0.8 * (durationMs / 20), `only ${sent} requests were sent in ${durationMs} ms`);
      assert.equal(ok, sent);
      assert.ok(rotations >= ROTATIONS, `only ${rotations} rotations ran`);
      assert.ok(alice.remints >= 1, 'the client re-minted its token for a rotated certificate');
      assert.equal(alice.serial, (await readWorkloadMaterial(s.pki.layout, 'client-alice')).info.serial, 'and ended on the newest certificate, with a token bound to it');

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
      this.test!.title += ` (${sent} requests, ${rotations} rotations, ${alice.remints} new tokens)`;
    });
  });
}
