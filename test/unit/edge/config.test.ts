import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadEdgeConfig } from '../../../src/edge/config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';

const ENVOY_YAML = resolve(import.meta.dirname, '../../../envoy/envoy.yaml');

describe('edge config', () => {
  let pki: TestPki;
  let base: NodeJS.ProcessEnv;
  before(async () => {
    pki = await givenPki();
    base = { ZT_PKI_DIR: pki.dir, EDGE_REGION: 'us-east', AUTHZ_URL: 'https://127.0.0.1:9443', RATING_URL: 'https://127.0.0.1:7443', ENVOY_CONFIG: ENVOY_YAML };
  });
  after(async () => {
    await pki.cleanup();
  });

  async function refuses(env: NodeJS.ProcessEnv, setting: RegExp): Promise<void> {
    await assert.rejects(loadEdgeConfig({ ...base, ...env }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, setting);
      return true;
    });
  }

  it('defaults the listeners and workload by region and freezes the result', async () => {
    const east = await loadEdgeConfig(base);
    assert.deepEqual(east.listen, { host: '127.0.0.1', port: 8443 });
    assert.deepEqual(east.adminListen, { host: '127.0.0.1', port: 9901 });
    assert.equal(east.workload, 'edge-us-east');
    assert.equal(east.self.uri, 'spiffe://zt.local/us-east/edge/envoy');
    assert.ok(Object.isFrozen(east));
    const eu = await loadEdgeConfig({ ...base, EDGE_REGION: 'eu-central' });
    assert.deepEqual(eu.listen, { host: '127.0.0.1', port: 8444 });
    assert.deepEqual(eu.adminListen, { host: '127.0.0.1', port: 9902 });
    assert.equal(eu.self.uri, 'spiffe://zt.local/eu-central/edge/envoy');
  });

  it('requires EDGE_REGION, AUTHZ_URL and RATING_URL, naming each', async () => {
    await refuses({ EDGE_REGION: '' }, /^EDGE_REGION is required/);
    await refuses({ EDGE_REGION: 'ap-south' }, /^EDGE_REGION: "ap-south"/);
    await refuses({ AUTHZ_URL: '' }, /^AUTHZ_URL is required/);
    await refuses({ RATING_URL: 'http://127.0.0.1:7443' }, /^RATING_URL: .*https/);
  });

  it('names a bad listener or log level', async () => {
    await refuses({ EDGE_LISTEN: 'nope' }, /^EDGE_LISTEN: "nope"/);
    await refuses({ EDGE_ADMIN_LISTEN: '127.0.0.1:99999' }, /^EDGE_ADMIN_LISTEN/);
    await refuses({ LOG_LEVEL: 'loud' }, /^LOG_LEVEL/);
  });

  it('refuses a certificate that is not the edge of the configured region', async () => {
    await refuses({ ZT_WORKLOAD: 'edge-eu-central' }, /^ZT_WORKLOAD edge-eu-central: .*not the us-east edge/);
    await refuses({ ZT_WORKLOAD: 'client-alice' }, /^ZT_WORKLOAD client-alice/);
    await refuses({ ZT_WORKLOAD: 'nobody' }, /nobody/);
  });

  it('refuses an Envoy config that fails open, naming ENVOY_CONFIG', async () => {
    const file = join(pki.dir, 'envoy-open.yaml');
    await copyFile(ENVOY_YAML, file);
    await writeFile(file, (await readFile(file, 'utf8')).replace('failure_mode_allow: false', 'failure_mode_allow: true'));
    await refuses({ ENVOY_CONFIG: file }, /^ENVOY_CONFIG .*failure_mode_allow/);
    await refuses({ ENVOY_CONFIG: join(pki.dir, 'missing.yaml') }, /^ENVOY_CONFIG .*missing\.yaml/);
  });
});
