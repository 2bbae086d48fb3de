import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import tls from 'node:tls';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { givenStack, ratingsPath, type TestStack } from '../helpers/given-stack.js';

const ROTATIONS = 20;
/** Writers, each under its own user: 10 users at 20 writes/s is 2 writes/s each, under the 5/s user limit. */
const USERS = 10;
const INTERVAL_MS = 50;

/** The serial a NEW TLS connection to Redis is served (a bare handshake: no Redis command needed). */
function redisServes(url: string, client: { cert: string; key: string; ca: string }): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ...client, checkServerIdentity: () => undefined }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/**
 * The acceptance test of rotation reaching Redis: the embedded stack with its TLS-only Redis holding
 * the buckets and the ratings, RATE_LIMIT_FAILURE_MODE=closed (so any Redis failure would be a 503),
 * a steady load of rating writes through an edge, and every certificate force-rotated 20 times by
 * the stack's own rotator (Redis's included, with its users' passwords). No request may fail, and
 * after each rotation a new handshake to Redis must see Redis's new serial.
 */
describe('rotation reaching Redis under a steady write load through an edge (closed failure mode)', function () {
  this.timeout(600_000);
  let s: TestStack;

  before(async () => {
    // A generous Redis command timeout: a broken or refused connection fails a charge at once (no
    // offline queue), so the test still sees every failure rotation could cause, but not a slow
    // answer from a machine busy with other suites, which is not what it is about.
    s = await givenStack({ edge: 'dev', redis: 'local', env: { RATE_LIMIT_FAILURE_MODE: 'closed', RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' } });
  });
  after(async () => s?.stop());

  it(`gives 0 failed writes over ${ROTATIONS} forced rotations, and each rotation's new Redis serial is what a new handshake sees`, async function () {
    const redisUrl = s.stack.redisUrl;
    assert.ok(redisUrl?.startsWith('rediss://'), `the stack runs Redis over TLS (${redisUrl})`);
    const alice = await s.pki.tls('client-alice');
    const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => s.token({ sub: `writer${i}`, roles: ['rater'], tier: 'enterprise' })));
    const at = s.edgeAddress('us-east');
    // FIFO, so every pooled connection is used every few hundred ms: none sits idle until the edge's
    // keep-alive timeout, where a request and the edge's close can cross (a keep-alive race, not rotation).
    const agent = new Agent({ keepAlive: true, maxSockets: 8, scheduling: 'fifo', ...alice });
    const failures: string[] = [];
    let sent = 0;
    let ok = 0;
    const inflight = new Set<Promise<void>>();
    const fire = (): void => {
      const i = sent++;
      const p = new Promise<void>((resolve) => {
        const body = JSON.stringify({ score: 1 + (i % 5) });
        const req = request(
          {
            host: at.host,
            port: at.port,
            servername: at.servername,
            path: ratingsPath(`load${i % 7}`),
            method: 'POST',
            agent,
            headers: { authorization: `Bearer ${tokens[i % USERS] ?? ''}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => {
              if (res.statusCode === 200 || res.statusCode === 201) ok++;
              else failures.push(`status ${res.statusCode} ${text}`);
              resolve();
            });
          },
        );
        req.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
        req.end(body);
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };

    const served: string[] = [];
    const started = Date.now();
    // Paced by the clock: ticks missed while a rotation signs certificates on this event loop are made up.
    const load = setInterval(() => {
      while (sent < Math.floor((Date.now() - started) / INTERVAL_MS)) fire();
    }, INTERVAL_MS);
    try {
      for (let r = 0; r < ROTATIONS; r++) {
        const before = (await readWorkloadMaterial(s.pki.layout, 'redis')).info.serial;
        const summary = await s.stack.rotate({ force: true });
        assert.equal(summary.ok, true, `rotation ${r + 1}: ${summary.errors.join('; ')}`);
        const want = (await readWorkloadMaterial(s.pki.layout, 'redis')).info.serial;
        assert.notEqual(want, before, `rotation ${r + 1} renewed Redis's certificate`);
        assert.deepEqual([summary.redis?.action, summary.redis?.tls], ['synced', 'reloaded'], `rotation ${r + 1}`);
        const seen = await redisServes(redisUrl ?? '', alice);
        assert.equal(seen, want, `after rotation ${r + 1} a new handshake sees Redis's new serial`);
        served.push(seen);
      }
    } finally {
      clearInterval(load);
      await Promise.all(inflight);
      agent.destroy();
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} writes failed`);
    assert.equal(ok, sent);
    assert.equal(new Set(served).size, ROTATIONS, 'a different serial after every rotation');
    assert.ok(sent >= 50, `only ${sent} writes were sent`);
    this.test!.title += ` (${sent} writes, all 2xx)`;
  });
});
