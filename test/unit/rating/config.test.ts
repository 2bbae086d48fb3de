import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../../src/rating/config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { loadTopology } from '../../../src/shared/topology.js';
import { WORKLOADS_YAML } from '../../helpers/given-pki.js';

function rejectsNaming(env: NodeJS.ProcessEnv, pattern: RegExp): ConfigError {
  let thrown: unknown;
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      thrown = err;
      return err instanceof ConfigError && err.code === 'bad_setting' && pattern.test(err.message);
    },
  );
  return thrown as ConfigError;
}

describe('rating config', () => {
  const topology = loadTopology(WORKLOADS_YAML);
  const ports = topology.workloads.get('rating-api')?.ports;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-rating-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A copy of the committed topology with `patch` applied to its top level. */
  async function topologyWith(name: string, patch: (doc: Record<string, unknown>) => void): Promise<string> {
    const doc = parse(await readFile(WORKLOADS_YAML, 'utf8')) as Record<string, unknown>;
    patch(doc);
    const file = join(dir, name);
    await writeFile(file, stringify(doc));
    return file;
  }

  it('takes every default from the settings rows and the rating-api ports from the topology', () => {
    assert.ok(ports, 'workloads.yaml gives rating-api its ports');
    const config = loadConfig({});
    assert.deepEqual(config, {
      pkiDir: resolve('pki/out'),
      trustDomain: topology.trustDomain,
      workload: 'rating-api',
      listen: { host: '127.0.0.1', port: ports.listen },
      adminListen: { host: '127.0.0.1', port: ports.admin },
      redis: undefined,
      logLevel: 'info',
      stream: {
        authzUrl: new URL(`https://127.0.0.1:${topology.workloads.get('authz')?.ports?.listen ?? 0}`),
        authzSpiffeId: topology.workloads.get('authz')?.spiffeId,
        maxPerSubject: 10,
        messageBurst: 20,
        messagesPerS: 10,
        maxFrameBytes: 16384,
        sendBufferBytes: 262144,
        expiryGraceMs: 5000,
        pingIntervalMs: 25_000,
      },
    });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.stream));
  });

  it('reads the stream settings from the environment', () => {
    const { stream } = loadConfig({
      RATING_AUTHZ_URL: 'https://authz:9443',
      RATING_STREAM_MAX_PER_SUBJECT: '2',
      RATING_STREAM_MSG_BURST: '5',
      RATING_STREAM_MSG_PER_S: '1',
      RATING_STREAM_MAX_FRAME_BYTES: '1024',
      RATING_STREAM_SEND_BUFFER_BYTES: '4096',
      RATING_STREAM_EXPIRY_GRACE_MS: '0',
      RATING_STREAM_PING_S: '7',
    });
    assert.equal(stream.authzUrl.href, 'https://authz:9443/');
    assert.deepEqual(
      [stream.maxPerSubject, stream.messageBurst, stream.messagesPerS, stream.maxFrameBytes, stream.sendBufferBytes, stream.expiryGraceMs, stream.pingIntervalMs],
      [2, 5, 1, 1024, 4096, 0, 7000],
    );
  });

  it('names a stream setting that is out of range, and RATING_AUTHZ_URL when it is not https', () => {
    rejectsNaming({ RATING_STREAM_SEND_BUFFER_BYTES: '10' }, /^RATING_STREAM_SEND_BUFFER_BYTES: not a whole number from 1024/);
    rejectsNaming({ RATING_STREAM_MSG_BURST: '0' }, /^RATING_STREAM_MSG_BURST: /);
    rejectsNaming({ RATING_AUTHZ_URL: 'http://authz:9443' }, /^RATING_AUTHZ_URL: not a https:\/\/ URL/);
  });

  it('reads each setting from the environment', () => {
    const config = loadConfig({
      ZT_PKI_DIR: '/pki',
      ZT_TRUST_DOMAIN: 'example.org',
      ZT_WORKLOAD: 'rating-api-2',
      RATING_LISTEN: '0.0.0.0:7443',
      RATING_ADMIN_LISTEN: '[::1]:0',
      REDIS_URL: 'rediss://redis:6379',
      LOG_LEVEL: 'debug',
    });
    assert.equal(config.pkiDir, '/pki');
    assert.equal(config.trustDomain, 'example.org');
    assert.equal(config.workload, 'rating-api-2');
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 7443 });
    assert.deepEqual(config.adminListen, { host: '::1', port: 0 });
    assert.deepEqual([config.redis?.url.href, config.redis?.spiffeId], ['rediss://redis:6379', 'spiffe://example.org/global/svc/redis']);
    assert.equal(config.logLevel, 'debug');
  });

  it('takes the default ports and the trust domain from the topology ZT_PKI_CONFIG names', async () => {
    const file = await topologyWith('moved.yaml', (doc) => {
      doc.trust_domain = 'example.net';
      const workloads = doc.workloads as Record<string, Record<string, unknown>>;
      workloads['rating-api'] = { ...workloads['rating-api'], ports: { listen: 17443, admin: 19091 } };
    });
    const config = loadConfig({ ZT_PKI_CONFIG: file });
    assert.equal(config.trustDomain, 'example.net');
    assert.deepEqual([config.listen, config.adminListen], [
      { host: '127.0.0.1', port: 17443 },
      { host: '127.0.0.1', port: 19091 },
    ]);
    assert.equal(loadConfig({ ZT_PKI_CONFIG: file, ZT_TRUST_DOMAIN: 'zt.example' }).trustDomain, 'zt.example', 'ZT_TRUST_DOMAIN overrides the file');
  });

  it('fails naming the topology when rating-api has no ports in it', async () => {
    const file = await topologyWith('no-ports.yaml', (doc) => {
      const workloads = doc.workloads as Record<string, Record<string, unknown>>;
      delete workloads['rating-api']?.ports;
    });
    assert.throws(() => loadConfig({ ZT_PKI_CONFIG: file }), (err: unknown) => err instanceof ConfigError && err.message.includes(`${file}: workloads.rating-api.ports`));
  });

  it('opens nothing: the PKI is not read, so a missing one does not fail the config', () => {
    assert.equal(loadConfig({ ZT_PKI_DIR: join(dir, 'no-pki-here') }).pkiDir, join(dir, 'no-pki-here'));
  });

  it('treats an empty setting as unset', () => {
    assert.equal(loadConfig({ REDIS_URL: '  ' }).redis, undefined);
  });

  it('names RATING_LISTEN and shows its value when it is not host:port', () => {
    rejectsNaming({ RATING_LISTEN: '7443' }, /^RATING_LISTEN: not host:port .*\(got "7443"\)$/);
  });

  it('names RATING_ADMIN_LISTEN when its port is out of range', () => {
    rejectsNaming({ RATING_ADMIN_LISTEN: '127.0.0.1:70000' }, /^RATING_ADMIN_LISTEN: .*\(got "127\.0\.0\.1:70000"\)$/);
  });

  it('names ZT_TRUST_DOMAIN when it is not a DNS-like name', () => {
    rejectsNaming({ ZT_TRUST_DOMAIN: 'spiffe://zt.local' }, /^ZT_TRUST_DOMAIN:/);
  });

  it('refuses ZT_TRUST_DOMAIN=\'Evil Domain/x\' naming ZT_TRUST_DOMAIN', () => {
    rejectsNaming({ ZT_TRUST_DOMAIN: 'Evil Domain/x' }, /^ZT_TRUST_DOMAIN: not a DNS-like trust domain/);
  });

  it('names ZT_WORKLOAD when it could escape the PKI directory', () => {
    rejectsNaming({ ZT_WORKLOAD: '../authz' }, /^ZT_WORKLOAD:/);
  });

  it('names LOG_LEVEL when it is not a pino level', () => {
    rejectsNaming({ LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: not one of fatal, error.*\(got "verbose"\)$/);
  });

  it('names REDIS_URL without echoing it, since it may hold a password', () => {
    for (const bad of ['http://user:hunter2@redis:6379', 'hunter2', 'redis://', 'redis://:hunter2@']) {
      const err = rejectsNaming({ REDIS_URL: bad }, /^REDIS_URL:/);
      assert.doesNotMatch(err.message, /hunter2/, bad);
    }
  });

  it('refuses REDIS_URL=http://:s3cret@redis:6379 naming REDIS_URL, never the password', () => {
    const err = rejectsNaming({ REDIS_URL: 'http://:s3cret@redis:6379' }, /^REDIS_URL: /);
    assert.doesNotMatch(err.message, /s3cret/);
    assert.doesNotMatch(String(err.stack), /s3cret/);
  });

  it('accepts rediss://host:port and refuses a password in it, naming REDIS_URL and not the password', () => {
    assert.equal(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380' }).redis?.url.href, 'rediss://cache.internal:6380');
    const err = rejectsNaming({ REDIS_URL: 'rediss://:pw-hunter2@cache.internal:6380' }, /^REDIS_URL: must not carry a user or password/);
    assert.doesNotMatch(err.message, /hunter2/);
  });

  it('refuses a plaintext redis:// URL by name', () => {
    rejectsNaming({ REDIS_URL: 'redis://redis:6379' }, /^REDIS_URL: plaintext redis:\/\/ is refused: Redis speaks only TLS here/);
  });
});
