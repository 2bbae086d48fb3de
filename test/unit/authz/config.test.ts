import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { AUTHZ_SETTINGS, loadConfig } from '../../../src/authz/config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { loadTopology, portsOf, workloadNamed } from '../../../src/shared/topology.js';
import { WORKLOADS_YAML } from '../../helpers/given-pki.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(env)}`);
}

function assertConfigError(env: Record<string, string>, setting: string): void {
  const err = configError(env);
  assert.ok(err.message.startsWith(`${setting}: `), `expected a ConfigError naming ${setting}, got: ${err.message}`);
  assert.equal(err.code, 'bad_setting', err.message);
}

/**
 * One bad value for every row whose text can be wrong. The others take any text: paths (a file
 * that cannot be opened is named by its setting at the start: test/integration/authz/main.test.ts)
 * and the issuer and audience.
 */
const BAD: Readonly<Record<string, string>> = {
  ZT_TRUST_DOMAIN: 'Not A Domain',
  ZT_WORKLOAD: '../etc',
  AUTHZ_LISTEN: 'nope',
  AUTHZ_ADMIN_LISTEN: '127.0.0.1:99999',
  REDIS_URL: 'http://:s3cret@redis:6379',
  RATE_LIMIT_FAILURE_MODE: 'sometimes',
  RATE_LIMIT_REDIS_TIMEOUT_MS: '0',
  JWT_ALGORITHMS: 'HS256',
  JWT_CLOCK_TOLERANCE_S: '1.5',
  JWT_CACHE_SIZE: '-1',
  JWT_MAX_TTL: 'forever',
  JWKS_URL: 'ftp://idp/jwks',
  LOG_LEVEL: 'loud',
};
const ANY_TEXT = ['ZT_PKI_DIR', 'ZT_PKI_CONFIG', 'JWKS_FILE', 'POLICY_WASM', 'POLICY_DATA', 'JWT_ISSUER', 'JWT_AUDIENCE'];

describe('authz config', () => {
  it('takes the DESIGN.md defaults from the settings rows and the topology', () => {
    const authz = portsOf(workloadNamed(loadTopology(WORKLOADS_YAML), 'authz'), WORKLOADS_YAML);
    const c = loadConfig({});
    assert.equal(c.pkiDir, resolve('pki/out'));
    assert.equal(c.trustDomain, loadTopology(WORKLOADS_YAML).trustDomain);
    assert.equal(c.workload, 'authz');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: authz.listen });
    assert.deepEqual(c.adminListen, { host: '127.0.0.1', port: authz.admin });
    assert.deepEqual([c.listen.port, c.adminListen.port], [9443, 9090], 'the ports of DESIGN.md');
    assert.equal(c.redis, undefined);
    assert.equal(c.failureMode, 'local');
    assert.equal(c.redisTimeoutMs, 50);
    assert.deepEqual(c.jwt, { issuer: 'https://idp.zt.local', audience: 'rating-api', algorithms: ['ES256'], clockToleranceS: 5, maxTtlS: 3600, cacheSize: 10000 });
    assert.equal(c.jwksFile, resolve('pki/out/jwks/jwks.json'));
    assert.equal(c.jwksUrl, undefined);
    assert.equal(c.policyWasm, resolve('policies/build/policy.wasm'));
    assert.equal(c.policyData, resolve('policies/data.json'));
    assert.equal(c.logLevel, 'info');
  });

  it('expands $ZT_PKI_DIR in the JWKS_FILE default and freezes the result', () => {
    const c = loadConfig({ ZT_PKI_DIR: '/srv/pki' });
    assert.equal(c.jwksFile, join('/srv/pki', 'jwks', 'jwks.json'));
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.jwt));
    assert.ok(Object.isFrozen(c.jwt.algorithms));
    assert.ok(Object.isFrozen(c.listen));
  });

  it('lists every setting it reads once, under the names of the old settings table', () => {
    const names = Object.values(AUTHZ_SETTINGS).map((row) => row.name);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(
      [...names].sort(),
      [...Object.keys(BAD), ...ANY_TEXT].sort(),
      'every row has a bad-value case below, or takes any text',
    );
  });

  it('refuses none and every HS* algorithm, naming JWT_ALGORITHMS and why', () => {
    for (const algs of ['none', 'HS256', 'hs384', 'HS512', 'ES256,none', 'ES256, HS256', 'NONE']) {
      assertConfigError({ JWT_ALGORITHMS: algs }, 'JWT_ALGORITHMS');
      assert.match(configError({ JWT_ALGORITHMS: algs }).message, /is refused: unsigned and HMAC tokens are never accepted/);
    }
  });

  it('refuses an algorithm jose does not verify and an empty list', () => {
    assertConfigError({ JWT_ALGORITHMS: 'ES256K' }, 'JWT_ALGORITHMS');
    assert.match(configError({ JWT_ALGORITHMS: 'ES256K' }).message, /"ES256K" is not one of ES256, /);
    assertConfigError({ JWT_ALGORITHMS: ',' }, 'JWT_ALGORITHMS');
    assert.match(configError({ JWT_ALGORITHMS: ',' }).message, /name at least one algorithm/);
  });

  it('accepts a list of asymmetric algorithms, without duplicates', () => {
    assert.deepEqual(loadConfig({ JWT_ALGORITHMS: 'ES256, RS256,ES256,EdDSA' }).jwt.algorithms, ['ES256', 'RS256', 'EdDSA']);
  });

  it('answers a bad value of every row with "NAME: reason"', () => {
    for (const [name, value] of Object.entries(BAD)) assertConfigError({ [name]: value }, name);
  });

  it('names ZT_PKI_CONFIG when the topology cannot be read, lacks the authz workload or its ports', async () => {
    assert.match(configError({ ZT_PKI_CONFIG: '/nonexistent/workloads.yaml' }).message, /^ZT_PKI_CONFIG: cannot read PKI config \/nonexistent\/workloads\.yaml/);
    const dir = await mkdtemp(join(tmpdir(), 'zt-authz-config-'));
    try {
      const topology = parse(await readFile(WORKLOADS_YAML, 'utf8')) as { workloads: Record<string, { ports?: unknown }> };
      const { authz, ...others } = topology.workloads;
      await writeFile(join(dir, 'no-authz.yaml'), stringify({ ...topology, workloads: others }));
      await writeFile(join(dir, 'no-ports.yaml'), stringify({ ...topology, workloads: { ...others, authz: { ...authz, ports: undefined } } }));
      assert.match(configError({ ZT_PKI_CONFIG: join(dir, 'no-authz.yaml') }).message, /^ZT_PKI_CONFIG: unknown workload "authz"/);
      assert.match(configError({ ZT_PKI_CONFIG: join(dir, 'no-ports.yaml') }).message, /^ZT_PKI_CONFIG: .*workloads\.authz\.ports: required/);
      // With both addresses set the topology's ports are not needed.
      const both = { AUTHZ_LISTEN: '127.0.0.1:1', AUTHZ_ADMIN_LISTEN: '127.0.0.1:2' };
      assert.deepEqual(loadConfig({ ZT_PKI_CONFIG: join(dir, 'no-ports.yaml'), ...both }).adminListen, { host: '127.0.0.1', port: 2 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes JWT_MAX_TTL from the topology\'s jwt.max_token_ttl unless it is set', async () => {
    assert.equal(loadConfig({}).jwt.maxTtlS, loadTopology(WORKLOADS_YAML).jwt.maxTokenTtlMs / 1000);
    assert.equal(loadConfig({ JWT_MAX_TTL: '15m' }).jwt.maxTtlS, 900);
    assert.match(configError({ JWT_MAX_TTL: '0s' }).message, /^JWT_MAX_TTL: a duration of at least 1s/);
    const dir = await mkdtemp(join(tmpdir(), 'zt-authz-config-'));
    try {
      // The issuer's limit is the verifier's: change one, the other follows.
      const topology = parse(await readFile(WORKLOADS_YAML, 'utf8')) as { jwt: Record<string, string> };
      await writeFile(join(dir, 'short.yaml'), stringify({ ...topology, jwt: { ...topology.jwt, max_token_ttl: '20m' } }));
      assert.equal(loadConfig({ ZT_PKI_CONFIG: join(dir, 'short.yaml') }).jwt.maxTtlS, 1200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads RATE_LIMIT_FAILURE_MODE with local as the default', () => {
    assert.equal(loadConfig({}).failureMode, 'local');
    assert.equal(loadConfig({ RATE_LIMIT_FAILURE_MODE: 'closed' }).failureMode, 'closed');
    assert.equal(loadConfig({ RATE_LIMIT_FAILURE_MODE: 'open' }).failureMode, 'open');
    assert.match(configError({ RATE_LIMIT_FAILURE_MODE: 'sometimes' }).message, /^RATE_LIMIT_FAILURE_MODE: not one of local, open, closed/);
  });

  it('never echoes a bad REDIS_URL or JWKS_URL, which may hold a password', () => {
    for (const value of ['http://:s3cret@redis:6379', 'redis://:s3cret@', 'redis://:s3cret@/0', 'not a url :s3cret@']) {
      const err = configError({ REDIS_URL: value });
      assert.ok(err.message.startsWith('REDIS_URL: '), err.message);
      assert.ok(!err.message.includes('s3cret'), err.message);
    }
    const jwks = configError({ JWKS_URL: 'ftp://user:s3cret@idp/jwks' });
    assert.ok(jwks.message.startsWith('JWKS_URL: ') && !jwks.message.includes('s3cret'), jwks.message);
  });

  it('refuses a plaintext redis:// URL, a password or user in REDIS_URL, and a database, naming the setting and never the value', () => {
    const cases: Array<[string, RegExp]> = [
      ['redis://127.0.0.1:6379', /plaintext redis:\/\/ is refused/],
      ['redis://:s3cret@redis:6379', /plaintext redis:\/\/ is refused/],
      ['rediss://:s3cret@redis:6379', /must not carry a user or password/],
      ['rediss://authz:s3cret@redis:6379', /must not carry a user or password/],
      ['rediss://redis:6379/0', /no database, path or query/],
      ['rediss://redis:6379?password=s3cret', /no database, path or query/],
    ];
    for (const [value, reason] of cases) {
      const err = configError({ REDIS_URL: value });
      assert.ok(err.message.startsWith('REDIS_URL: '), err.message);
      assert.match(err.message, reason);
      assert.ok(!err.message.includes('s3cret') && !err.message.includes(value), err.message);
    }
  });

  it('takes JWKS_URL, REDIS_URL (with Redis\'s SPIFFE ID from the topology) and a 0 cache size (cache off)', () => {
    const c = loadConfig({ JWKS_URL: 'https://idp.example/jwks.json', REDIS_URL: 'rediss://127.0.0.1:6379', JWT_CACHE_SIZE: '0', RATE_LIMIT_FAILURE_MODE: 'closed' });
    assert.equal(c.jwksUrl?.href, 'https://idp.example/jwks.json');
    assert.equal(c.redis?.url.href, 'rediss://127.0.0.1:6379');
    assert.equal(c.redis?.spiffeId, 'spiffe://zt.local/global/svc/redis');
    assert.equal(c.jwt.cacheSize, 0);
    assert.equal(c.failureMode, 'closed');
  });
});
