import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';
import { redisServerArgs } from '../../../src/stack/redis-server.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE = join(ROOT, 'compose/docker-compose.yml');

const dependency = z.object({ condition: z.enum(['service_healthy', 'service_completed_successfully', 'service_started']) });
const service = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  healthcheck: z.object({ test: z.array(z.string()).min(2) }).optional(),
  environment: z.record(z.string(), z.string()).default({}),
  read_only: z.boolean().optional(),
  cap_drop: z.array(z.string()).optional(),
  security_opt: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), dependency).optional(),
  networks: z.array(z.string()).optional(),
  network_mode: z.string().optional(),
  volumes: z.array(z.string()).default([]),
  ports: z.array(z.string()).default([]),
  restart: z.string().optional(),
  user: z.string().optional(),
  command: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).default({}),
});
const composeSchema = z.object({
  services: z.record(z.string(), service),
  networks: z.record(z.string(), z.object({ internal: z.boolean().optional() }).nullable()),
});
type Service = z.infer<typeof service>;

// Merge keys (<<) are how the file shares the Node and Envoy service templates; compose honours them.
const text = readFileSync(COMPOSE, 'utf8');
const compose = composeSchema.parse(parse(text, { merge: true }));
const services = compose.services;

function svc(name: string): Service {
  const s = services[name];
  assert.ok(s, `service ${name} is defined`);
  return s;
}

/** Volumes that come from the host PKI directory, as `source:target[:mode]`. */
function pkiMounts(s: Service): { source: string; target: string; mode: string }[] {
  return s.volumes
    .filter((v) => v.startsWith('${ZT_PKI_HOST_DIR'))
    .map((v) => {
      // The source holds `${VAR:-default}`, whose `:-` is not a separator.
      const m = /^(\$\{[^}]+\}[^:]*):([^:]+)(?::(.+))?$/.exec(v);
      assert.ok(m, `cannot read volume ${v}`);
      return { source: m[1] ?? '', target: m[2] ?? '', mode: m[3] ?? 'rw' };
    });
}

const WRITERS = ['pki-init', 'cert-rotator'];
const ZONES: Record<string, string[]> = {
  'envoy-us-east': ['edge', 'mesh'],
  'envoy-eu-central': ['edge', 'mesh'],
  authz: ['mesh'],
  'rating-api': ['mesh'],
  redis: ['mesh'],
  // The rotator reaches Redis (ACL SETUSER, CONFIG SET tls-*) and nothing else.
  'cert-rotator': ['mesh'],
  loki: ['observability'],
  grafana: ['observability'],
  alloy: ['observability', 'docker-api'],
  'docker-proxy': ['docker-api'],
};

describe('compose/docker-compose.yml', () => {
  it('is accepted by docker-compose config', async function () {
    this.timeout(60_000);
    try {
      await run('docker-compose', ['-f', COMPOSE, 'config', '-q'], { cwd: ROOT });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') {
        if (process.env.CI) assert.fail('docker-compose is not installed; CI must have it (apt-get install docker-compose)');
        console.warn('      skipped: docker-compose is not installed (apt-get install docker-compose)');
        this.skip();
      }
      assert.fail(`docker-compose config rejected the file:\n${e.stderr ?? e.message}`);
    }
  });

  it('defines exactly the services of the stack', () => {
    assert.deepEqual(Object.keys(services).sort(), ['alloy', 'authz', 'cert-rotator', 'docker-proxy', 'envoy-eu-central', 'envoy-us-east', 'grafana', 'loki', 'pki-init', 'rating-api', 'redis']);
  });

  it('gives every long-running service a health check and waits on health, not on start', () => {
    for (const [name, s] of Object.entries(services)) {
      const oneShot = s.restart === 'no';
      if (oneShot) {
        const dependents = Object.entries(services).filter(([, d]) => d.depends_on?.[name]);
        assert.ok(dependents.length > 0, `${name} is a one-shot that nothing waits for`);
        for (const [dn, d] of dependents) assert.equal(d.depends_on?.[name]?.condition, 'service_completed_successfully', `${dn} waits for one-shot ${name} to complete`);
      } else {
        assert.ok(s.healthcheck, `${name} has a healthcheck`);
      }
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        assert.ok(services[dep], `${name} depends on the defined service ${dep}`);
        assert.notEqual(cond.condition, 'service_started', `${name} waits for ${dep} by health or completion, not start`);
        if (cond.condition === 'service_healthy') assert.ok(services[dep]?.healthcheck, `${name} waits for ${dep} to be healthy, so ${dep} needs a healthcheck`);
      }
    }
  });

  it('pins every image to an explicit tag that is not latest', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} names an image`);
      const tag = /:([^:/]+)$/.exec(s.image)?.[1];
      assert.ok(tag, `${name}: image ${s.image} has a tag`);
      assert.notEqual(tag, 'latest', `${name}: image ${s.image} is not pinned`);
      if (!s.build) assert.match(tag, /\d+\.\d+\.\d+/, `${name}: image ${s.image} is pinned to an exact version`);
    }
  });

  it('mounts the PKI read-write only into pki-init and cert-rotator', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of pkiMounts(s)) {
        if (WRITERS.includes(name)) assert.equal(m.mode, 'rw', `${name} writes the PKI`);
        else assert.equal(m.mode, 'ro', `${name} mounts ${m.source} read-only`);
      }
    }
    assert.deepEqual(pkiMounts(svc('cert-rotator')).map((m) => m.target), ['/pki'], 'the rotator mounts the PKI, without the root key');
    assert.deepEqual(pkiMounts(svc('pki-init')).map((m) => m.target), ['/pki'], 'pki-init mounts the PKI');
    assert.ok(svc('pki-init').volumes.some((v) => v.startsWith('${ZT_PKI_ROOT_HOST_DIR:-../pki/root}:/pki-root:')), 'and, alone, the root key');
    assert.equal(svc('pki-init').environment.ZT_PKI_ROOT_DIR, '/pki-root');
  });

  it('gives each consumer only its own workload directory and never the CA keys', () => {
    const own: Record<string, string> = { authz: 'authz', 'rating-api': 'rating-api', 'envoy-us-east': 'edge-us-east', 'envoy-eu-central': 'edge-eu-central' };
    for (const [name, workload] of Object.entries(own)) {
      const sources = pkiMounts(svc(name)).map((m) => m.source.replace(/^\$\{[^}]+\}/, ''));
      const workloadDirs = sources.filter((s) => !s.startsWith('/ca/') && s !== '/jwks');
      assert.deepEqual(workloadDirs, [`/${workload}`], `${name} mounts only its own certificate directory`);
      assert.ok(!sources.includes('/ca'), `${name} does not mount ca/, which holds root.key and intermediate.key`);
      assert.ok(sources.every((s) => s !== '' && s !== '/'), `${name} does not mount the whole PKI`);
    }
    assert.ok(pkiMounts(svc('authz')).some((m) => m.source.endsWith('/jwks')), 'authz can read the JWKS');
    assert.ok(!Object.values(services).some((s) => pkiMounts(s).some((m) => m.source.endsWith('/jwt'))), 'nobody mounts the JWT signing keys alone');
  });

  it('puts each service in the network of its trust zone, with the mesh internal', () => {
    for (const [name, zones] of Object.entries(ZONES)) assert.deepEqual([...(svc(name).networks ?? [])].sort(), [...zones].sort(), `${name} networks`);
    assert.equal(svc('pki-init').network_mode, 'none', 'pki-init, which holds the root key, has no network');
    assert.deepEqual(Object.keys(compose.networks).sort(), ['docker-api', 'edge', 'mesh', 'observability']);
    assert.equal(compose.networks.mesh?.internal, true);
    assert.equal(compose.networks['docker-api']?.internal, true);
  });

  it('parameterises every published host port and keeps admin listeners unpublished', () => {
    const published = Object.entries(services).filter(([, s]) => s.ports.length > 0).map(([n]) => n).sort();
    assert.deepEqual(published, ['envoy-eu-central', 'envoy-us-east', 'grafana']);
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports) assert.match(p, /\$\{[A-Z_]+:-\d+\}:\d+$/, `${name}: host port of ${p} is a variable with a default`);
    }
    assert.match(svc('envoy-us-east').ports[0] ?? '', /:-8443\}:8443$/);
    assert.match(svc('envoy-eu-central').ports[0] ?? '', /:-8444\}:8443$/);
    assert.match(svc('grafana').ports[0] ?? '', /:-3000\}:3000$/);
  });

  it('runs redis with the append-only file on', () => {
    const cmd = svc('redis').command ?? [];
    assert.equal(cmd[cmd.indexOf('--appendonly') + 1], 'yes');
  });

  it('runs redis-server exactly as the one launcher builds it for compose\'s paths: TLS only, client certificates, the ACL file', () => {
    assert.deepEqual(svc('redis').command, ['redis-server', ...redisServerArgs({ pkiDir: '/pki', port: 6379, bind: ['0.0.0.0'], dataDir: '/data', appendOnly: true })]);
    assert.match(svc('redis').image ?? '', /^redis:7\.0\.\d+-/, 'the Redis minor version the tests run (Debian\'s 7.0.15)');
    assert.ok(svc('redis').volumes.includes('${ZT_PKI_HOST_DIR:-../pki/out}/redis:/pki/redis:ro'), 'at the path the rotator names in CONFIG SET');
  });

  it('points every service at Redis with rediss://, never a password in the URL', () => {
    for (const name of ['authz', 'rating-api', 'cert-rotator']) assert.equal(svc(name).environment.REDIS_URL, 'rediss://redis:6379', name);
    assert.ok(!text.includes('redis://'), 'no plaintext Redis URL anywhere in the file');
  });

  it('takes every capability away, forbids new privileges and makes the root filesystem read-only, for every service', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.deepEqual(s.cap_drop, ['ALL'], `${name} cap_drop`);
      assert.deepEqual(s.security_opt, ['no-new-privileges:true'], `${name} security_opt`);
      assert.equal(s.read_only, true, `${name} read_only`);
    }
  });

  it('gives only the socket proxy the Docker socket, read-only, and lets Alloy reach it alone', () => {
    const withSocket = Object.entries(services).filter(([, s]) => s.volumes.some((v) => v.includes('docker.sock'))).map(([n]) => n);
    assert.deepEqual(withSocket, ['docker-proxy']);
    assert.ok(svc('docker-proxy').volumes.includes('/var/run/docker.sock:/var/run/docker.sock:ro'));
    const cmd = svc('docker-proxy').command ?? [];
    assert.ok(cmd.includes('-allowfrom=alloy'));
    assert.deepEqual(cmd.filter((c) => c.startsWith('-allow') && !c.startsWith('-allowfrom') && c !== '-allowhealthcheck').map((c) => c.split('=')[0]), ['-allowGET', '-allowHEAD'], 'reads only');
    const alloy = readFileSync(join(ROOT, 'compose/alloy/config.alloy'), 'utf8');
    assert.equal((alloy.match(/host\s*=\s*"tcp:\/\/docker-proxy:2375"/g) ?? []).length, 2, 'discovery and log reading go through the proxy');
    assert.ok(!alloy.includes('docker.sock'));
  });

  it('puts Alloy -> Loki and Grafana -> Loki on mutual TLS with certificates from the internal CA, mounted from their own directories', () => {
    const loki = parse(readFileSync(join(ROOT, 'compose/loki/config.yaml'), 'utf8')) as { server: { http_tls_config: Record<string, string> } };
    assert.deepEqual(loki.server.http_tls_config, { cert_file: '/pki/loki/current/cert.pem', key_file: '/pki/loki/current/key.pem', client_ca_file: '/pki/loki/current/ca.pem', client_auth_type: 'RequireAndVerifyClientCert', min_version: 'VersionTLS12' });
    const alloy = readFileSync(join(ROOT, 'compose/alloy/config.alloy'), 'utf8');
    assert.match(alloy, /url = "https:\/\/loki:3100\/loki\/api\/v1\/push"/);
    for (const f of ['ca_file', 'cert_file', 'key_file']) assert.match(alloy, new RegExp(`${f}\\s*=\\s*"/pki/alloy/current/`));
    const ds = parse(readFileSync(join(ROOT, 'compose/grafana/provisioning/datasources/loki.yaml'), 'utf8')) as { datasources: Array<{ url: string; jsonData: Record<string, unknown>; secureJsonData: Record<string, string> }> };
    const grafana = ds.datasources[0];
    assert.equal(grafana?.url, 'https://loki:3100');
    assert.deepEqual([grafana?.jsonData.tlsAuth, grafana?.jsonData.tlsAuthWithCACert], [true, true]);
    assert.deepEqual(grafana?.secureJsonData, { tlsCACert: '$__file{/pki/grafana/current/ca.pem}', tlsClientCert: '$__file{/pki/grafana/current/cert.pem}', tlsClientKey: '$__file{/pki/grafana/current/key.pem}' });
    for (const [name, dir] of [['loki', 'loki'], ['alloy', 'alloy'], ['grafana', 'grafana']] as const) {
      assert.ok(svc(name).volumes.includes(`\${ZT_PKI_HOST_DIR:-../pki/out}/${dir}:/pki/${dir}:ro`), `${name} mounts its own certificate directory`);
    }
  });

  it('gives Grafana no default admin password and no anonymous access', () => {
    const env = svc('grafana').environment;
    assert.equal(env.GF_SECURITY_ADMIN_PASSWORD, undefined, 'no password in the file or a default');
    assert.equal(env.GF_SECURITY_ADMIN_PASSWORD__FILE, '/pki/grafana/admin-password', 'the one pki init generated');
    assert.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'false');
    assert.equal(env.GF_USERS_ALLOW_SIGN_UP, 'false');
  });

  it('labels every container with the service (and an edge with its region) that Alloy turns into Loki labels', () => {
    for (const [name, s] of Object.entries(services)) assert.ok(s.labels['zt.service'], `${name} has a zt.service label`);
    assert.equal(svc('authz').labels['zt.service'], 'authz');
    assert.equal(svc('rating-api').labels['zt.service'], 'rating');
    assert.equal(svc('cert-rotator').labels['zt.service'], 'pki');
    assert.deepEqual(svc('envoy-us-east').labels, { 'zt.service': 'edge', 'zt.region': 'us-east' });
    assert.deepEqual(svc('envoy-eu-central').labels, { 'zt.service': 'edge', 'zt.region': 'eu-central' });
  });
});
