import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { loadConfig, parseAlgorithms } from '../../../src/authz/config.js';
import { ConfigError } from '../../../src/shared/errors.js';

function assertConfigError(env: Record<string, string>, setting: string): void {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.message.startsWith(setting),
    `expected a ConfigError naming ${setting}`,
  );
}

describe('authz config', () => {
  it('takes the DESIGN.md defaults from the settings table', () => {
    const c = loadConfig({});
    assert.equal(c.pkiDir, resolve('pki/out'));
    assert.equal(c.trustDomain, 'zt.local');
    assert.equal(c.workload, 'authz');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 9443 });
    assert.deepEqual(c.adminListen, { host: '127.0.0.1', port: 9090 });
    assert.equal(c.redisUrl, undefined);
    assert.equal(c.failureMode, 'local');
    assert.deepEqual(c.jwt, { issuer: 'https://idp.zt.local', audience: 'rating-api', algorithms: ['ES256'], clockToleranceS: 5, cacheSize: 10000 });
    assert.equal(c.jwksFile, resolve('pki/out/jwt/jwks.json'));
    assert.equal(c.jwksUrl, undefined);
    assert.equal(c.policyWasm, resolve('policies/build/policy.wasm'));
    assert.equal(c.logLevel, 'info');
  });

  it('expands $ZT_PKI_DIR in the JWKS_FILE default and freezes the result', () => {
    const c = loadConfig({ ZT_PKI_DIR: '/srv/pki' });
    assert.equal(c.jwksFile, join('/srv/pki', 'jwt', 'jwks.json'));
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.jwt));
    assert.ok(Object.isFrozen(c.jwt.algorithms));
  });

  it('refuses none and every HS* algorithm, naming JWT_ALGORITHMS', () => {
    for (const algs of ['none', 'HS256', 'hs384', 'HS512', 'ES256,none', 'ES256, HS256', 'NONE']) {
      assertConfigError({ JWT_ALGORITHMS: algs }, 'JWT_ALGORITHMS');
    }
  });

  it('refuses an algorithm jose does not verify and an empty list', () => {
    assertConfigError({ JWT_ALGORITHMS: 'ES256K' }, 'JWT_ALGORITHMS');
    assertConfigError({ JWT_ALGORITHMS: ',' }, 'JWT_ALGORITHMS');
  });

  it('accepts a list of asymmetric algorithms, without duplicates', () => {
    assert.deepEqual(parseAlgorithms('ES256, RS256,ES256,EdDSA'), ['ES256', 'RS256', 'EdDSA']);
  });

  it('names the setting of every other bad value', () => {
    assertConfigError({ AUTHZ_LISTEN: 'nope' }, 'AUTHZ_LISTEN');
    assertConfigError({ AUTHZ_ADMIN_LISTEN: '127.0.0.1:99999' }, 'AUTHZ_ADMIN_LISTEN');
    assertConfigError({ RATE_LIMIT_FAILURE_MODE: 'sometimes' }, 'RATE_LIMIT_FAILURE_MODE');
    assertConfigError({ RATE_LIMIT_REDIS_TIMEOUT_MS: '0' }, 'RATE_LIMIT_REDIS_TIMEOUT_MS');
    assertConfigError({ JWT_CLOCK_TOLERANCE_S: '1.5' }, 'JWT_CLOCK_TOLERANCE_S');
    assertConfigError({ JWT_CACHE_SIZE: '-1' }, 'JWT_CACHE_SIZE');
    assertConfigError({ JWKS_URL: 'ftp://idp/jwks' }, 'JWKS_URL');
    assertConfigError({ ZT_TRUST_DOMAIN: 'Not A Domain' }, 'ZT_TRUST_DOMAIN');
    assertConfigError({ ZT_WORKLOAD: '../etc' }, 'ZT_WORKLOAD');
    assertConfigError({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
  });

  it('never echoes a bad REDIS_URL, which may hold a password', () => {
    assert.throws(
      () => loadConfig({ REDIS_URL: 'http://:s3cret@redis:6379' }),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith('REDIS_URL') && !err.message.includes('s3cret'),
    );
  });

  it('takes JWKS_URL, REDIS_URL and a 0 cache size (cache off)', () => {
    const c = loadConfig({ JWKS_URL: 'https://idp.example/jwks.json', REDIS_URL: 'redis://127.0.0.1:6379/0', JWT_CACHE_SIZE: '0', RATE_LIMIT_FAILURE_MODE: 'closed' });
    assert.equal(c.jwksUrl, 'https://idp.example/jwks.json');
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379/0');
    assert.equal(c.jwt.cacheSize, 0);
    assert.equal(c.failureMode, 'closed');
  });
});
