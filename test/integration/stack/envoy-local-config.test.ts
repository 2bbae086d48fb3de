import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ConfigError } from '../../../src/shared/errors.js';
import { findEnvoy } from '../../../src/stack/envoy-bin.js';
import { prepareEnvoyEdge, readShippedEnvoy } from '../../../src/stack/envoy-edge.js';
import { localEnvoyConfig, type EnvoyFiles, type EnvoyLocalTarget } from '../../../src/stack/envoy-local-config.js';
import { givenPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';

const run = promisify(execFile);

/** One difference between two parsed YAML trees, at a path such as `a.b[0].c`. */
interface Difference {
  readonly path: string;
  readonly kind: 'changed' | 'added' | 'removed';
  readonly from?: unknown;
  readonly to?: unknown;
}

/**
 * Every leaf whose value differs, and every key or item only one side has. Written here, apart
 * from the generator, so that the test compares two independent things.
 */
function diff(a: unknown, b: unknown, path = ''): Difference[] {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(a) && isMap(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => {
      const p = path === '' ? k : `${path}.${k}`;
      if (!(k in b)) return [{ path: p, kind: 'removed' as const, from: a[k] }];
      if (!(k in a)) return [{ path: p, kind: 'added' as const, to: b[k] }];
      return diff(a[k], b[k], p);
    });
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => i).flatMap((i) => {
      const p = `${path}[${i}]`;
      if (i >= b.length) return [{ path: p, kind: 'removed' as const, from: a[i] as unknown }];
      if (i >= a.length) return [{ path: p, kind: 'added' as const, to: b[i] as unknown }];
      return diff(a[i], b[i], p);
    });
  }
  return Object.is(a, b) ? [] : [{ path, kind: 'changed', from: a, to: b }];
}

/** The paths of every map held under `key` in a tree, in the same `a.b[0].c` form. */
function pathsOfKey(node: unknown, key: string, path = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((item: unknown, i) => pathsOfKey(item, key, `${path}[${i}]`));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => {
    const p = path === '' ? k : `${path}.${k}`;
    return k === key ? [p] : pathsOfKey(v, key, p);
  });
}

function byPath(list: readonly Difference[]): Difference[] {
  return [...list].sort((x, y) => x.path.localeCompare(y.path));
}

const changed = (path: string, from: unknown, to: unknown): Difference => ({ path, kind: 'changed', from, to });

const TARGET: EnvoyLocalTarget = {
  listen: { host: '127.0.0.1', port: 18443 },
  adminPort: 19901,
  upstreams: { authz: { host: '127.0.0.1', port: 19443 }, rating_api: { host: '127.0.0.1', port: 17443 } },
  sdsDir: '/tmp/zt-stack-envoy-test/us-east/sds',
  edgePkiDir: '/srv/zt pki/edge-us-east',
};

describe('the local Envoy copy behind npm start -- --edge envoy', function () {
  this.timeout(60_000);
  let shipped: EnvoyFiles;
  let copy: EnvoyFiles;

  before(async () => {
    shipped = await readShippedEnvoy(join(REPO_ROOT, 'envoy'));
    copy = localEnvoyConfig(shipped, TARGET);
  });

  it('differs from envoy/envoy.yaml only in the listener, the admin port, the cluster endpoints and the SDS file paths', () => {
    const before = parse(shipped.envoyYaml) as unknown;
    const after = parse(copy.envoyYaml) as unknown;
    const clusters = (before as { static_resources: { clusters: { name: string }[] } }).static_resources.clusters.map((c) => c.name);
    const endpoint = (name: string): string => `static_resources.clusters[${clusters.indexOf(name)}].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address`;
    assert.deepEqual([...clusters].sort(), ['authz', 'rating_api'], 'the clusters this test knows');
    const sdsSources = pathsOfKey(before, 'path_config_source');
    assert.ok(sdsSources.length > 0, 'envoy.yaml reads SDS files');
    const expected: Difference[] = [
      changed('admin.address.socket_address.port_value', 9901, 19901),
      changed('static_resources.listeners[0].address.socket_address.address', '0.0.0.0', '127.0.0.1'),
      changed('static_resources.listeners[0].address.socket_address.port_value', 8443, 18443),
      changed(`${endpoint('authz')}.address`, 'authz', '127.0.0.1'),
      changed(`${endpoint('authz')}.port_value`, 9443, 19443),
      changed(`${endpoint('rating_api')}.address`, 'rating-api', '127.0.0.1'),
      changed(`${endpoint('rating_api')}.port_value`, 7443, 17443),
      ...sdsSources.flatMap((p) => {
        const file = String(valueAt(before, `${p}.path`)).replace('/etc/envoy/sds/', '');
        return [changed(`${p}.path`, `/etc/envoy/sds/${file}`, `${TARGET.sdsDir}/${file}`), changed(`${p}.watched_directory.path`, '/etc/envoy/sds', TARGET.sdsDir)];
      }),
    ];
    assert.deepEqual(byPath(diff(before, after)), byPath(expected));
  });

  it('differs from each envoy/sds file only in the paths under the edge PKI mount', () => {
    assert.deepEqual(Object.keys(copy.sds).sort(), Object.keys(shipped.sds).sort(), 'one copy per shipped SDS file');
    const pki = TARGET.edgePkiDir;
    const expected: Record<string, Difference[]> = {
      'edge-cert.yaml': [
        changed('resources[0].tls_certificate.certificate_chain.filename', '/etc/envoy/pki/edge/current/cert.pem', `${pki}/current/cert.pem`),
        changed('resources[0].tls_certificate.private_key.filename', '/etc/envoy/pki/edge/current/key.pem', `${pki}/current/key.pem`),
        changed('resources[0].tls_certificate.watched_directory.path', '/etc/envoy/pki/edge', pki),
      ],
      'trust-bundle.yaml': [
        changed('resources[0].validation_context.trusted_ca.filename', '/etc/envoy/pki/edge/current/ca.pem', `${pki}/current/ca.pem`),
        changed('resources[0].validation_context.watched_directory.path', '/etc/envoy/pki/edge', pki),
      ],
    };
    assert.deepEqual(Object.keys(shipped.sds).sort(), Object.keys(expected).sort(), 'the SDS files this test knows');
    for (const [file, text] of Object.entries(shipped.sds)) {
      assert.deepEqual(byPath(diff(parse(text), parse(copy.sds[file] ?? ''))), byPath(expected[file] ?? []), file);
    }
  });

  it('is accepted by the real Envoy (--mode validate) with a generated PKI', async () => {
    const envoy = await findEnvoy(process.env.ENVOY_BIN ?? '.venv/bin/envoy');
    const pki = await givenPki();
    const dir = await mkdtemp(join(tmpdir(), 'zt-envoy-copy-'));
    try {
      const plan = await prepareEnvoyEdge({ region: 'eu-central', listen: { host: '127.0.0.1', port: 18444 }, adminPort: 19902, authz: { host: '127.0.0.1', port: 19443 }, rating: { host: '127.0.0.1', port: 17443 }, pkiDir: pki.dir, dir, envoy, runtime: 'tsx' });
      assert.deepEqual((await readdir(join(dir, 'eu-central', 'sds'))).sort(), Object.keys(shipped.sds).sort());
      assert.match(await readFile(plan.configFile, 'utf8'), /^# Generated from envoy\/envoy\.yaml/, 'the copy says what made it');
      const { stdout, stderr } = await run(envoy.bin, ['--mode', 'validate', '--config-path', plan.configFile, '--disable-hot-restart', '--log-level', 'warning']);
      assert.match(stdout + stderr, /OK/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await pki.cleanup();
    }
  });

  describe('refuses shipped files it would no longer describe, naming the field', () => {
    function refuses(files: EnvoyFiles, message: RegExp): void {
      assert.throws(
        () => localEnvoyConfig(files, TARGET),
        (err: unknown) => err instanceof ConfigError && err.code === 'envoy_local_config' && message.test(err.message),
      );
    }

    it('a cluster it has no local address for', () => {
      refuses({ ...shipped, envoyYaml: shipped.envoyYaml.replace(/- name: rating_api(\n\s+type: STRICT_DNS)/, '- name: ratings_v2$1') }, /cluster "ratings_v2" has no local address/);
    });

    it('a listener that is not the compose 0.0.0.0:8443', () => {
      refuses({ ...shipped, envoyYaml: shipped.envoyYaml.replace('address: 0.0.0.0, port_value: 8443', 'address: 0.0.0.0, port_value: 10443') }, /static_resources\.listeners\[0\]\.address\.socket_address\.port_value is 10443/);
    });

    it('an SDS file that envoy.yaml names but that is not shipped', () => {
      refuses({ ...shipped, envoyYaml: shipped.envoyYaml.replace('/etc/envoy/sds/trust-bundle.yaml', '/etc/envoy/sds/trust-anchors.yaml') }, /"\/etc\/envoy\/sds\/trust-anchors\.yaml", not one of the SDS files/);
    });

    it('an SDS file that reads a file outside the edge PKI mount', () => {
      const edgeCert = shipped.sds['edge-cert.yaml'] ?? '';
      refuses({ ...shipped, sds: { ...shipped.sds, 'edge-cert.yaml': edgeCert.replace('/etc/envoy/pki/edge/current/key.pem', '/etc/envoy/keys/edge.pem') } }, /private_key\.filename is "\/etc\/envoy\/keys\/edge\.pem", outside \/etc\/envoy\/pki\/edge/);
    });
  });
});

/** The value at a dotted path such as `a.b[0].c`. */
function valueAt(tree: unknown, path: string): unknown {
  return path
    .split(/\.|(?=\[)/)
    .reduce<unknown>((node, step) => {
      if (node === null || typeof node !== 'object') return undefined;
      const index = /^\[(\d+)\]$/.exec(step);
      return index ? (node as unknown[])[Number(index[1])] : (node as Record<string, unknown>)[step];
    }, tree);
}
