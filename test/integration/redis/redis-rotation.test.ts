import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Redis } from 'ioredis';
import { RedisBucketStore } from '../../../src/authz/buckets/token-bucket-redis.js';
import { issueWorkload } from '../../../src/pki/authority.js';
import { withPkiLock } from '../../../src/pki/lock.js';
import { passwordHash } from '../../../src/pki/redis-acl.js';
import { rotate, type RotateSummary } from '../../../src/pki/rotate.js';
import { readWorkloadMaterial } from '../../../src/shared/pki/workload-material.js';
import { createRedisClient } from '../../../src/shared/redis-client.js';
import type { WorkloadTls } from '../../../src/shared/tls/workload-tls.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { givenRedis, type GivenRedis } from '../../helpers/given-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

/** The serial a NEW TLS connection to Redis is served, as openssl prints it (no Redis command needed). */
function servedSerial(redis: GivenRedis, client: { cert: string; key: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: redis.port, ...client, checkServerIdentity: () => undefined }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/**
 * Certificate rotation reaches a running Redis and its clients without a restart: Redis takes its
 * new certificate (CONFIG SET) and every user's new password (ACL SETUSER), open connections carry
 * on, new ones present the new material, and a failure keeps the old material serving.
 */
describe('rotation reaches Redis', function () {
  this.timeout(180_000);
  let pki: TestPki;
  let redis: GivenRedis;
  let harness: Redis;
  let identity: WorkloadTls;
  let store: RedisBucketStore;

  beforeEach(async () => {
    pki = await givenPki();
    redis = await givenRedis({ pki });
    harness = await redis.harness();
    identity = (await redis.identity('authz')).watch(50);
    store = new RedisBucketStore(createRedisClient({ server: redis.server, identity, connectionName: 'zt-rotation-test', commandTimeoutMs: 2000, reconnectMaxDelayMs: 50 }));
    await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
  });
  afterEach(async () => {
    await store.close();
    identity.close();
    harness.disconnect();
    await redis.stop();
    await pki.cleanup();
  });

  const rotateNow = (): Promise<RotateSummary> => withPkiLock(pki.layout, () => rotate(pki.layout, pki.spec, { force: true, redis: redis.server }), { wait: true });
  const alice = async () => pki.tls('client-alice');
  const charge = () => store.charge([{ name: 'user', key: 'alice', capacity: 1000, refillPerS: 1, cost: 1 }]);
  const connectionId = async (): Promise<string | undefined> => /id=(\d+) [^\n]*name=zt-rotation-test /.exec(String(await harness.client('LIST')))?.[1];

  it('makes Redis serve its new certificate on new handshakes, while the open connection of a client carries on', async () => {
    const before = await servedSerial(redis, await alice());
    const idBefore = await connectionId();
    assert.ok(idBefore, 'the store is connected under its name');
    const summary = await rotateNow();
    assert.equal(summary.ok, true, summary.errors.join('; '));
    const want = (await readWorkloadMaterial(pki.layout, 'redis')).info.serial;
    assert.notEqual(want, before);
    assert.deepEqual([summary.redis?.action, summary.redis?.tls, summary.redis?.serial], ['synced', 'reloaded', want]);
    assert.deepEqual(summary.redis?.users, ['authz', 'rating-api', 'cert-rotator', 'redis'], 'every current password signed in');
    assert.equal(await servedSerial(redis, await alice()), want, 'a new handshake sees the new serial');
    assert.equal((await charge()).source, 'redis');
    assert.equal(await connectionId(), idBefore, 'the same connection: nothing was dropped');
  });

  it('keeps an old password working until its version is pruned, and a client reconnects with its new one', async () => {
    const oldPassword = (await readWorkloadMaterial(pki.layout, 'authz')).redisPassword ?? '';
    assert.equal((await rotateNow()).ok, true);
    const next = await readWorkloadMaterial(pki.layout, 'authz');
    await waitFor('the service to read its new version', () => (identity.material.serial === next.info.serial ? true : undefined));
    assert.equal(await redis.command('AUTH', 'authz', oldPassword), 'OK', 'a client that has not picked up its new password still signs in');
    // Redis now takes only the newest password: the store must present it when it reconnects.
    await harness.call('ACL', 'SETUSER', 'authz', 'resetpass', `#${passwordHash(next.redisPassword ?? '')}`);
    await harness.client('KILL', 'ID', (await connectionId()) ?? '');
    await waitFor('the store to reconnect with its new password', async () => ((await charge().catch(() => undefined))?.source === 'redis' ? true : undefined));
    for (let i = 0; i < 3; i++) assert.equal((await rotateNow()).ok, true);
    const acl = await readFile(pki.layout.redisAcl, 'utf8');
    assert.ok(!acl.includes(passwordHash(oldPassword)), 'a pruned version\'s password is no longer accepted');
    assert.ok(!acl.includes(oldPassword) && !acl.includes((await readWorkloadMaterial(pki.layout, 'authz')).redisPassword ?? '-'), 'the ACL file holds hashes only');
    assert.match(String(await redis.command('AUTH', 'authz', oldPassword).catch((e: Error) => e.message)), /^WRONGPASS/);
  });

  it('keeps every Redis user on its old certificate and password, and fails the run, when Redis cannot be told', async () => {
    const before = await Promise.all(['authz', 'rating-api', 'redis', 'cert-rotator', 'edge-us-east'].map(async (w) => [w, (await readWorkloadMaterial(pki.layout, w)).info.serial] as const));
    await redis.kill();
    const summary = await rotateNow();
    assert.equal(summary.ok, false);
    for (const [w, serial] of before) {
      const leaf = summary.leaves.find((l) => l.workload === w);
      const now = (await readWorkloadMaterial(pki.layout, w)).info.serial;
      if (w === 'edge-us-east') {
        assert.equal(leaf?.action, 'renewed', 'a workload that is not a Redis user rotates anyway');
        assert.notEqual(now, serial);
      } else {
        assert.equal(leaf?.action, 'failed', w);
        assert.match(leaf?.error ?? '', /Redis did not take the new password .*the old certificate and password stay current/);
        assert.equal(now, serial, `${w} keeps its version`);
      }
    }
    assert.equal(summary.redis?.action, 'failed');
    assert.match(summary.errors.join('\n'), /^redis: /m);

    await redis.restart();
    const after = await rotateNow();
    assert.equal(after.ok, true, after.errors.join('; '));
    assert.equal(after.redis?.serial, (await readWorkloadMaterial(pki.layout, 'redis')).info.serial);
  });

  it('reports a Redis certificate that cannot be loaded, fails the run and leaves the old one serving', async () => {
    const served = await servedSerial(redis, await alice());
    // A new version whose key does not belong to its certificate, made current by hand.
    await withPkiLock(pki.layout, () => issueWorkload(pki.layout, pki.spec, 'redis'), { wait: true });
    const current = await readWorkloadMaterial(pki.layout, 'redis');
    await writeFile(join(current.versionDir, 'key.pem'), (await readWorkloadMaterial(pki.layout, 'authz')).keyPem);
    const summary = await withPkiLock(pki.layout, () => rotate(pki.layout, pki.spec, { redis: redis.server }), { wait: true });
    assert.equal(summary.ok, false);
    assert.equal(summary.leaves.find((l) => l.workload === 'redis')?.action, 'failed', 'the broken version is reported, and left for an operator');
    assert.equal(summary.redis?.action, 'failed');
    assert.match(summary.redis?.error ?? '', /^redis: .*key\.pem does not match the certificate/);
    assert.equal(await servedSerial(redis, await alice()), served, 'Redis still serves the certificate it had');
    assert.equal((await charge()).source, 'redis', 'and its clients carry on');
  });

  it('compares what a new handshake sees with current, not file times: a Redis left behind is reloaded at the next run', async () => {
    // A leaf issued without telling Redis (as by hand with no REDIS_URL): current moves, Redis does not.
    const served = await servedSerial(redis, await alice());
    await withPkiLock(pki.layout, () => issueWorkload(pki.layout, pki.spec, 'redis'), { wait: true });
    const want = (await readWorkloadMaterial(pki.layout, 'redis')).info.serial;
    assert.equal(await servedSerial(redis, await alice()), served, 'Redis never reloads by itself');
    const summary = await withPkiLock(pki.layout, () => rotate(pki.layout, pki.spec, { redis: redis.server }), { wait: true });
    assert.equal(summary.ok, true, summary.errors.join('; '));
    assert.ok(summary.leaves.every((l) => l.action === 'kept'), 'nothing was due');
    assert.deepEqual([summary.redis?.tls, summary.redis?.serial], ['reloaded', want]);
    assert.equal(await servedSerial(redis, await alice()), want);
  });
});
