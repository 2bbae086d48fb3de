import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENVOY_YAML = join(ROOT, 'envoy/envoy.yaml');
const COMPOSE = join(ROOT, 'compose/docker-compose.yml');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** An edited copy of the real config; SDS paths are container paths resolved through the compose mounts, so they need no rewriting. */
type Doc = Record<string, unknown>;

// The edits below walk the real config's shape; a failed lookup means envoy.yaml changed shape.
function hcm(doc: Doc): Doc {
  const l = (doc.static_resources as { listeners: { filter_chains: { filters: { typed_config: Doc }[]; transport_socket: { typed_config: Doc } }[] }[] }).listeners;
  const found = l[0]?.filter_chains[0]?.filters[0]?.typed_config;
  assert.ok(found, 'listeners[0].filter_chains[0].filters[0] is the connection manager');
  return found;
}

function downstreamTls(doc: Doc): Doc {
  const l = (doc.static_resources as { listeners: { filter_chains: { transport_socket: { typed_config: Doc } }[] }[] }).listeners;
  const found = l[0]?.filter_chains[0]?.transport_socket.typed_config;
  assert.ok(found, 'listeners[0].filter_chains[0] has a transport socket');
  return found;
}

function extAuthz(doc: Doc): Doc {
  const f = (hcm(doc).http_filters as { name: string; typed_config: Doc }[]).find((x) => x.name === 'envoy.filters.http.ext_authz');
  assert.ok(f, 'the config has an ext_authz filter');
  return f.typed_config;
}

describe('scripts/envoy-check: Envoy proto validation of envoy/envoy.yaml', function () {
  let dir = '';
  let checker = '';

  before(async function () {
    // The first build downloads go-control-plane and its dependencies through the Go module proxy.
    this.timeout(10 * 60 * 1000);
    dir = await mkdtemp(join(tmpdir(), 'envoy-check-'));
    checker = join(dir, 'envoy-check');
    try {
      await run('go', ['build', '-o', checker, '.'], { cwd: join(ROOT, 'scripts/envoy-check'), maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT' && !process.env.CI) {
        console.warn('      skipped: the Go toolchain is not installed (CI requires it)');
        this.skip();
      }
      throw new Error(`go build ./scripts/envoy-check failed: ${e.stderr ?? e.message}`, { cause: err });
    }
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function check(configPath: string): Promise<Outcome> {
    try {
      const { stdout, stderr } = await run(checker, ['-config', configPath, '-compose', COMPOSE], { maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  async function checkEdited(name: string, edit: (doc: Doc) => void): Promise<Outcome> {
    const doc = parse(await readFile(ENVOY_YAML, 'utf8')) as Doc;
    edit(doc);
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, stringify(doc));
    return check(file);
  }

  it('accepts the real config, its SDS files and the compose mounts', async () => {
    const out = await check(ENVOY_YAML);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /envoy\/envoy\.yaml is valid and consistent with .*docker-compose\.yml/);
  });

  it('fails on a misspelled field and names it with its path', async () => {
    const out = await checkEdited('misspelled', (doc) => {
      const tls = downstreamTls(doc);
      tls.requre_client_certificate = tls.require_client_certificate;
      delete tls.require_client_certificate;
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /misspelled\.yaml: static_resources\.listeners\[0\]\.filter_chains\[0\]\.transport_socket\.typed_config\.requre_client_certificate: unknown field "requre_client_certificate" in envoy\.extensions\.transport_sockets\.tls\.v3\.DownstreamTlsContext/);
  });

  it('fails on a route to a cluster that is not defined and names the cluster', async () => {
    const out = await checkEdited('missing-cluster', (doc) => {
      const routes = (hcm(doc).route_config as { virtual_hosts: { routes: { route: { cluster: string } }[] }[] }).virtual_hosts[0]?.routes;
      assert.ok(routes?.[0]);
      routes[0].route.cluster = 'ratings_v2';
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /route\.cluster: cluster "ratings_v2" is not defined in static_resources\.clusters/);
  });

  it('fails when ext_authz would let requests through while authz is down', async () => {
    const out = await checkEdited('fail-open', (doc) => {
      extAuthz(doc).failure_mode_allow = true;
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /typed_config<ExtAuthz>\.failure_mode_allow: must be false/);
  });

  it('fails when the edge stops requiring a client certificate', async () => {
    const out = await checkEdited('no-client-cert', (doc) => {
      downstreamTls(doc).require_client_certificate = false;
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /typed_config<DownstreamTlsContext>\.require_client_certificate: must be true/);
  });

  it('fails when x-forwarded-client-cert is not forwarded to authz', async () => {
    const out = await checkEdited('no-xfcc', (doc) => {
      const allowed = extAuthz(doc).allowed_headers as { patterns: { exact?: string }[] };
      allowed.patterns = allowed.patterns.filter((p) => p.exact !== 'x-forwarded-client-cert');
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /allowed_headers: x-forwarded-client-cert is not forwarded to the authz service/);
  });

  it("fails on a value outside Envoy's own validation rules", async () => {
    const out = await checkEdited('negative-timeout', (doc) => {
      (extAuthz(doc).http_service as { server_uri: { timeout: string } }).server_uri.timeout = '-1s';
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /invalid HttpUri\.Timeout: value must be inside range/);
  });

  it('fails when an SDS file lies outside every volume the Envoy services mount', async () => {
    const out = await checkEdited('unmounted-sds', (doc) => {
      const certs = ((downstreamTls(doc).common_tls_context as Doc).tls_certificate_sds_secret_configs as { sds_config: { path_config_source: { path: string } } }[])[0];
      assert.ok(certs);
      certs.sds_config.path_config_source.path = '/etc/envoy/secrets/edge-cert.yaml';
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /"\/etc\/envoy\/secrets\/edge-cert\.yaml" is not under any volume mounted into compose service envoy-eu-central/);
  });

  it('fails when client x-zt-* headers are no longer stripped before ext_authz', async () => {
    const out = await checkEdited('no-strip', (doc) => {
      const filters = hcm(doc).http_filters as { name: string }[];
      hcm(doc).http_filters = filters.filter((f) => f.name !== 'envoy.filters.http.header_mutation');
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /ext_authz runs before any header_mutation filter removes client-supplied x-zt-\* headers/);
  });
});
