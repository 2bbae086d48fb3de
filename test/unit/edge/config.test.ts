import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../../src/edge/config.js';
import { createDeps } from '../../../src/edge/create-deps.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { createLogger } from '../../../src/shared/logger.js';
import { edgeOf, edgeRegions, workloadNamed } from '../../../src/shared/topology.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';

const ENVOY_YAML = resolve(import.meta.dirname, '../../../envoy/envoy.yaml');

describe('edge config', () => {
  let pki: TestPki;
  let base: NodeJS.ProcessEnv;
  before(async () => {
    pki = await givenPki();
    base = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, EDGE_REGION: 'us-east', AUTHZ_URL: 'https://127.0.0.1:9443', RATING_URL: 'https://127.0.0.1:7443', ENVOY_CONFIG: ENVOY_YAML };
  });
  after(async () => {
    await pki.cleanup();
  });

  function refuses(env: NodeJS.ProcessEnv, setting: RegExp): ConfigError {
    let thrown: unknown;
    assert.throws(
      () => loadConfig({ ...base, ...env }),
      (err: unknown) => {
        thrown = err;
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, setting);
        return true;
      },
    );
    return thrown as ConfigError;
  }

  /** A copy of the test topology with `patch` applied. */
  async function topologyWith(name: string, patch: (doc: Record<string, unknown>) => void): Promise<string> {
    const doc = parse(await readFile(pki.configFile, 'utf8')) as Record<string, unknown>;
    patch(doc);
    const file = join(pki.dir, name);
    await writeFile(file, stringify(doc));
    return file;
  }

  it("takes every region's listeners, workload and identity from the topology, and freezes the result", () => {
    const regions = edgeRegions(pki.spec);
    assert.ok(regions.length >= 2, 'workloads.yaml declares the edges');
    for (const region of regions) {
      const edge = edgeOf(pki.spec, region);
      const config = loadConfig({ ...base, EDGE_REGION: region });
      assert.equal(config.region, region);
      assert.deepEqual(config.listen, { host: '127.0.0.1', port: edge.ports?.listen });
      assert.deepEqual(config.adminListen, { host: '127.0.0.1', port: edge.ports?.admin });
      assert.equal(config.workload, edge.name);
      assert.equal(config.spiffeId, edge.spiffeId);
      assert.equal(config.trustDomain, pki.spec.trustDomain);
      assert.ok(Object.isFrozen(config));
    }
  });

  it('expects the upstream SPIFFE IDs the topology gives authz and the rating API, in the trust domain ZT_TRUST_DOMAIN names', async () => {
    const config = loadConfig(base);
    assert.equal(config.authzSpiffeId, workloadNamed(pki.spec, 'authz').spiffeId);
    assert.equal(config.ratingSpiffeId, workloadNamed(pki.spec, 'rating-api').spiffeId);
    const other = loadConfig({ ...base, ZT_TRUST_DOMAIN: 'example.org' });
    assert.equal(other.trustDomain, 'example.org');
    assert.equal(other.authzSpiffeId, workloadNamed(pki.spec, 'authz').spiffeId.replace(`//${pki.spec.trustDomain}/`, '//example.org/'));
    const moved = await topologyWith('moved-edge.yaml', (doc) => {
      const workloads = doc.workloads as Record<string, Record<string, unknown>>;
      workloads['edge-us-east'] = { ...workloads['edge-us-east'], ports: { listen: 18443, admin: 19901 } };
    });
    const fromMoved = loadConfig({ ...base, ZT_PKI_CONFIG: moved });
    assert.deepEqual([fromMoved.listen.port, fromMoved.adminListen.port], [18443, 19901], 'the default ports follow ZT_PKI_CONFIG');
  });

  it("refuses EDGE_REGION=mars naming EDGE_REGION and listing the topology's regions", () => {
    const err = refuses({ EDGE_REGION: 'mars' }, /^EDGE_REGION: /);
    for (const region of edgeRegions(pki.spec)) assert.ok(err.message.includes(region), `${err.message} lists ${region}`);
    assert.match(err.message, /\(got "mars"\)$/);
  });

  it('requires EDGE_REGION, AUTHZ_URL and RATING_URL, naming each', () => {
    const err = refuses({ EDGE_REGION: '' }, /^EDGE_REGION: required/);
    for (const region of edgeRegions(pki.spec)) assert.ok(err.message.includes(region), `${err.message} lists ${region}`);
    refuses({ AUTHZ_URL: '' }, /^AUTHZ_URL: required/);
    refuses({ RATING_URL: 'http://127.0.0.1:7443' }, /^RATING_URL: .*https/);
  });

  it('names a bad listener or log level', () => {
    refuses({ EDGE_LISTEN: 'nope' }, /^EDGE_LISTEN: .*\(got "nope"\)/);
    refuses({ EDGE_ADMIN_LISTEN: '127.0.0.1:99999' }, /^EDGE_ADMIN_LISTEN/);
    refuses({ LOG_LEVEL: 'loud' }, /^LOG_LEVEL/);
  });

  it("refuses ZT_TRUST_DOMAIN='Evil Domain/x' naming ZT_TRUST_DOMAIN", () => {
    refuses({ ZT_TRUST_DOMAIN: 'Evil Domain/x' }, /^ZT_TRUST_DOMAIN: not a DNS-like trust domain .*\(got "Evil Domain\/x"\)$/);
  });

  it('opens nothing: the PKI is not read, so a missing one does not fail the config', () => {
    assert.equal(loadConfig({ ...base, ZT_PKI_DIR: join(pki.dir, 'no-pki-here') }).pkiDir, join(pki.dir, 'no-pki-here'));
  });

  it('refuses a certificate that is not the edge of the configured region when the deps open it', async () => {
    const logger = createLogger('edge', { level: 'silent' });
    const opens = async (env: NodeJS.ProcessEnv, expected: RegExp): Promise<void> => {
      await assert.rejects(createDeps(loadConfig({ ...base, ...env }), { logger }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, expected);
        return true;
      });
    };
    await opens({ ZT_WORKLOAD: 'edge-eu-central' }, /^ZT_WORKLOAD: .*edge-eu-central.*not .*the us-east edge/);
    await opens({ ZT_WORKLOAD: 'client-alice' }, /^ZT_WORKLOAD: .*client-alice/);
    await opens({ ZT_TRUST_DOMAIN: 'example.org' }, /^ZT_WORKLOAD: .*not spiffe:\/\/example\.org\//);
    await opens({ ZT_WORKLOAD: 'nobody' }, /nobody/);
    const deps = await createDeps(loadConfig(base), { logger });
    await deps.close();
  });

  it('refuses an Envoy config that fails open, naming ENVOY_CONFIG', async () => {
    const file = join(pki.dir, 'envoy-open.yaml');
    await copyFile(ENVOY_YAML, file);
    await writeFile(file, (await readFile(file, 'utf8')).replace('failure_mode_allow: false', 'failure_mode_allow: true'));
    refuses({ ENVOY_CONFIG: file }, /^ENVOY_CONFIG .*failure_mode_allow/);
    refuses({ ENVOY_CONFIG: join(pki.dir, 'missing.yaml') }, /^ENVOY_CONFIG .*missing\.yaml/);
  });

  it('refuses an Envoy config whose routes go elsewhere than the rating API, naming the file', async () => {
    const file = join(pki.dir, 'envoy-other-cluster.yaml');
    await writeFile(file, (await readFile(ENVOY_YAML, 'utf8')).replace('cluster: rating_api', 'cluster: somewhere_else'));
    refuses({ ENVOY_CONFIG: file }, /envoy-other-cluster\.yaml: the dev edge routes only to the rating_api cluster; found somewhere_else/);
  });
});
