import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRatingConfig, parseRatingSettings } from '../../../src/rating/config.js';
import { ConfigError } from '../../../src/shared/errors.js';

function rejectsNaming(env: NodeJS.ProcessEnv, pattern: RegExp): void {
  assert.throws(
    () => parseRatingSettings(env),
    (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
  );
}

describe('rating config', () => {
  it('takes every default from the settings table', () => {
    const s = parseRatingSettings({});
    assert.deepEqual(s, {
      pkiDir: 'pki/out',
      trustDomain: 'zt.local',
      workload: 'rating-api',
      listen: { host: '127.0.0.1', port: 7443 },
      adminListen: { host: '127.0.0.1', port: 9091 },
      redisUrl: undefined,
      logLevel: 'info',
    });
    assert.ok(Object.isFrozen(s));
  });

  it('reads each setting from the environment', () => {
    const s = parseRatingSettings({
      ZT_PKI_DIR: '/pki',
      ZT_TRUST_DOMAIN: 'example.org',
      ZT_WORKLOAD: 'rating-api-2',
      RATING_LISTEN: '0.0.0.0:7443',
      RATING_ADMIN_LISTEN: '[::1]:0',
      REDIS_URL: 'redis://redis:6379/2',
      LOG_LEVEL: 'debug',
    });
    assert.equal(s.pkiDir, '/pki');
    assert.equal(s.trustDomain, 'example.org');
    assert.equal(s.workload, 'rating-api-2');
    assert.deepEqual(s.listen, { host: '0.0.0.0', port: 7443 });
    assert.deepEqual(s.adminListen, { host: '::1', port: 0 });
    assert.equal(s.redisUrl, 'redis://redis:6379/2');
    assert.equal(s.logLevel, 'debug');
  });

  it('treats an empty setting as unset', () => {
    assert.equal(parseRatingSettings({ REDIS_URL: '  ' }).redisUrl, undefined);
  });

  it('names RATING_LISTEN when it is not host:port', () => {
    rejectsNaming({ RATING_LISTEN: '7443' }, /^RATING_LISTEN: "7443" is not host:port/);
  });

  it('names RATING_ADMIN_LISTEN when its port is out of range', () => {
    rejectsNaming({ RATING_ADMIN_LISTEN: '127.0.0.1:70000' }, /^RATING_ADMIN_LISTEN:/);
  });

  it('names ZT_TRUST_DOMAIN when it is not a DNS-like name', () => {
    rejectsNaming({ ZT_TRUST_DOMAIN: 'spiffe://zt.local' }, /^ZT_TRUST_DOMAIN:/);
  });

  it('names ZT_WORKLOAD when it could escape the PKI directory', () => {
    rejectsNaming({ ZT_WORKLOAD: '../authz' }, /^ZT_WORKLOAD:/);
  });

  it('names LOG_LEVEL when it is not a pino level', () => {
    rejectsNaming({ LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: "verbose" is not one of fatal, error/);
  });

  it('names REDIS_URL without echoing it, since it may hold a password', () => {
    for (const bad of ['http://user:hunter2@redis:6379', 'hunter2', 'redis://']) {
      assert.throws(
        () => parseRatingSettings({ REDIS_URL: bad }),
        (err: unknown) => err instanceof ConfigError && /^REDIS_URL:/.test(err.message) && !err.message.includes('hunter2'),
      );
    }
  });

  it('accepts a rediss:// URL', () => {
    assert.equal(parseRatingSettings({ REDIS_URL: 'rediss://:pw@cache.internal:6380' }).redisUrl, 'rediss://:pw@cache.internal:6380');
  });

  it('fails to load naming the certificate it looked for when the PKI is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zt-rating-nopki-'));
    try {
      await assert.rejects(loadRatingConfig({ ZT_PKI_DIR: dir }), (err: unknown) => {
        return err instanceof ConfigError && err.code === 'pki_missing' && err.message.includes(join(dir, 'rating-api', 'current'));
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
