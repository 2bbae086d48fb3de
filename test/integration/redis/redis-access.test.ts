import assert from 'node:assert/strict';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisBucketStore } from '../../../src/authz/buckets/token-bucket-redis.js';
import { CHARGE_SCRIPT } from '../../../src/authz/buckets/charge-script.js';
import { RedisRatingStore } from '../../../src/rating/rating-store-redis.js';
import { readWorkloadMaterial } from '../../../src/shared/pki/workload-material.js';
import { createRedisClient, redisTlsOptions } from '../../../src/shared/redis-client.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { useRedis } from '../../helpers/given-redis.js';
import { waitFor } from '../../helpers/wait-for.js';

/**
 * Redis is reached only over mutual TLS with a certificate from the internal CA, and only as one of
 * the PKI's ACL users; each user can run only what its service needs, on its own keys.
 */
describe('Redis: mTLS and one least-privilege ACL user per service', function () {
  this.timeout(60_000);
  const redis = useRedis();
  let foreign: TestPki;
  const clients: Redis[] = [];

  before(async () => {
    foreign = await givenPki({ trustDomain: 'evil.local' });
  });
  after(async () => foreign.cleanup());
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });

  /** One connection with `options`; resolves with its first error (or undefined once ready). */
  async function firstError(options: RedisOptions): Promise<Error | undefined> {
    const client = new Redis({ host: '127.0.0.1', port: redis().port, lazyConnect: true, enableReadyCheck: false, disableClientInfo: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5000, ...options });
    clients.push(client);
    let first: Error | undefined;
    client.on('error', (err: Error) => {
      first ??= err;
    });
    try {
      await client.connect();
      return undefined;
    } catch (err) {
      return first ?? (err as Error);
    }
  }

  /** A workload's TLS options (its certificate, the trust bundle, Redis's SPIFFE ID) and password, from the Redis's own PKI. */
  async function materialOf(workload: string): Promise<{ tls: ReturnType<typeof redisTlsOptions>; password: string | undefined }> {
    const m = await readWorkloadMaterial(redis().pki.layout, workload);
    return { tls: redisTlsOptions({ cert: m.certPem, key: m.keyPem, ca: m.caPem }, redis().server), password: m.redisPassword };
  }

  /** A connected client signed in as `workload`'s ACL user with its current password. */
  async function signedInAs(workload: string): Promise<Redis> {
    const { tls, password } = await materialOf(workload);
    const client = new Redis({ host: '127.0.0.1', port: redis().port, tls, username: workload, password, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0 });
    clients.push(client);
    await waitFor(`${workload} to sign in`, () => (client.status === 'ready' ? true : undefined));
    return client;
  }

  async function refused(run: Promise<unknown>): Promise<string> {
    const err = await run.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(err instanceof Error, 'the command was refused');
    return err.message;
  }

  describe('plaintext and anonymous access are refused', () => {
    it('closes a plaintext connection to its port without a reply', async () => {
      const client = new Redis({ host: '127.0.0.1', port: redis().port, enableReadyCheck: false, disableClientInfo: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5000 });
      clients.push(client);
      client.on('error', () => undefined);
      const message = await refused(client.ping());
      assert.equal(message, 'Connection is closed.', 'Redis closed the plaintext connection without answering');
    });

    it('refuses a TLS client that presents no certificate: alert certificate required', async () => {
      const { tls } = await materialOf('authz');
      const err = await firstError({ tls: { ...tls, cert: undefined, key: undefined } });
      assert.match(err?.message ?? 'no error', /alert certificate required/);
    });

    it('refuses a certificate from a foreign CA: alert unknown ca', async () => {
      const alien = await readWorkloadMaterial(foreign.layout, 'authz');
      const { tls } = await materialOf('authz');
      const err = await firstError({ tls: { ...tls, cert: alien.certPem, key: alien.keyPem }, username: 'authz', password: 'whatever' });
      assert.match(err?.message ?? 'no error', /alert unknown ca/);
    });

    it('takes a valid certificate without a password for nobody: NOAUTH, and the default user is off', async () => {
      const { tls } = await materialOf('authz');
      const err = await firstError({ tls });
      assert.match(err?.message ?? 'no error', /^NOAUTH HELLO must be called with the client already authenticated/);
      assert.equal(await firstError({ tls, protocol: 2 }), undefined, 'without HELLO the TLS handshake itself succeeds');
      const client = clients.at(-1)!;
      assert.match(await refused(client.ping()), /^NOAUTH Authentication required/);
      assert.match(await refused(client.call('AUTH', 'default', '')), /^WRONGPASS/);
    });

    it('refuses a valid certificate with a wrong password: WRONGPASS', async () => {
      const { tls } = await materialOf('authz');
      const err = await firstError({ tls, username: 'authz', password: 'not-the-password' });
      assert.match(err?.message ?? 'no error', /^WRONGPASS invalid username-password pair/);
    });

    it('refuses one service\'s password with another service\'s user name: WRONGPASS', async () => {
      const { tls, password } = await materialOf('rating-api');
      const err = await firstError({ tls, username: 'authz', password });
      assert.match(err?.message ?? 'no error', /^WRONGPASS/);
    });

    it('is refused by a client when it presents another SPIFFE ID than the topology gives Redis', async () => {
      const { tls, password } = await materialOf('authz');
      const wrong = redisTlsOptions({ cert: tls.cert as string, key: tls.key as string, ca: tls.ca as string }, { ...redis().server, spiffeId: 'spiffe://zt.local/global/svc/authz' });
      const err = await firstError({ tls: wrong, username: 'authz', password });
      assert.match(err?.message ?? 'no error', /presented spiffe:\/\/zt\.local\/global\/svc\/redis, expected exactly spiffe:\/\/zt\.local\/global\/svc\/authz/);
    });
  });

  describe('as authz', () => {
    it('runs the bucket script through the service\'s own client', async () => {
      const store = new RedisBucketStore(createRedisClient({ server: redis().server, identity: await redis().identity('authz'), connectionName: 'zt-test-acl', commandTimeoutMs: 2000 }));
      try {
        await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
        const r = await store.charge([{ name: 'user', key: 'alice', capacity: 5, refillPerS: 1, cost: 1 }]);
        assert.deepEqual([r.allowed, r.source, r.buckets[0]?.remaining], [true, 'redis', 4]);
      } finally {
        await store.close();
      }
    });

    it('is refused GET of a rating key, FLUSHALL, CONFIG GET * and KEYS * with NOPERM', async () => {
      const authz = await signedInAs('authz');
      assert.match(await refused(authz.get('zt:rating:acme:i1:agg')), /^NOPERM this user has no permissions to run the 'get' command/);
      assert.match(await refused(authz.flushall()), /^NOPERM this user has no permissions to run the 'flushall' command/);
      assert.match(await refused(authz.config('GET', '*')), /^NOPERM this user has no permissions to run the 'config\|get' command/);
      assert.match(await refused(authz.keys('*')), /^NOPERM this user has no permissions to run the 'keys' command/);
    });

    it('cannot aim the bucket script at a rating key: NOPERM on the key', async () => {
      const authz = await signedInAs('authz');
      assert.match(await refused(authz.eval(CHARGE_SCRIPT, 1, 'zt:rating:acme:i1:agg', '5', '1', '1')), /^NOPERM this user has no permissions to access one of the keys/);
    });

    it('cannot reach past the script\'s commands on its own keys: HGETALL and SCRIPT FLUSH are NOPERM', async () => {
      const authz = await signedInAs('authz');
      assert.match(await refused(authz.hgetall('zt:bucket:user:alice')), /^NOPERM this user has no permissions to run the 'hgetall' command/);
      assert.match(await refused(authz.script('FLUSH')), /^NOPERM this user has no permissions to run the 'script\|flush' command/);
    });
  });

  describe('as the rating API', () => {
    it('writes a rating through the service\'s own client', async () => {
      const store = new RedisRatingStore({ server: redis().server, identity: await redis().identity('rating-api') });
      try {
        await waitFor('the store to connect', () => (store.isReady() ? true : undefined));
        const put = await store.put({ tenant: 'acme', item: 'i1' }, 'alice', { score: 4 });
        assert.equal(put.created, true);
      } finally {
        await store.close();
      }
    });

    it('cannot touch the bucket keys: NOPERM on the key, even with a command it holds', async () => {
      const rating = await signedInAs('rating-api');
      assert.match(await refused(rating.hmget('zt:bucket:user:alice', 'tokens')), /^NOPERM this user has no permissions to access one of the keys/);
      assert.match(await refused(rating.hset('zt:bucket:user:alice', 'tokens', '1000')), /^NOPERM this user has no permissions to access one of the keys/);
      assert.match(await refused(rating.eval(CHARGE_SCRIPT, 1, 'zt:bucket:user:alice', '5', '1', '1')), /NOPERM|can't run this command/);
    });

    it('publishes only on its own channels', async () => {
      const rating = await signedInAs('rating-api');
      assert.equal(await rating.publish('zt:rating-events:acme', '{}'), 0);
      assert.match(await refused(rating.publish('zt:bucket-events', '{}')), /^NOPERM this user has no permissions to access one of the channels/);
    });
  });

  describe('as the rotator and the health check', () => {
    it('lets the rotator set configuration and users but read no key', async () => {
      const rotator = await signedInAs('cert-rotator');
      assert.match(await refused(rotator.get('zt:rating:acme:i1:agg')), /^NOPERM this user has no permissions to run the 'get' command/);
      assert.match(await refused(rotator.config('GET', '*')), /^NOPERM this user has no permissions to run the 'config\|get' command/);
      assert.match(await refused(rotator.call('ACL', 'LIST')), /^NOPERM this user has no permissions to run the 'acl\|list' command/);
      assert.match(await refused(rotator.config('SET', 'dir', '/tmp')), /can't set protected config/, 'enable-protected-configs keeps dir out of CONFIG SET');
    });

    it('lets the health user PING and nothing else', async () => {
      const health = await signedInAs('redis');
      assert.equal(await health.ping(), 'PONG');
      assert.match(await refused(health.get('zt:bucket:user:alice')), /^NOPERM this user has no permissions to run the 'get' command/);
    });
  });
});
