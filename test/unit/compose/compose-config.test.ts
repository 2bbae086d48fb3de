import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE = join(ROOT, 'compose/docker-compose.yml');

const dependency = z.object({ condition: z.enum(['service_healthy', 'service_completed_successfully', 'service_started']) });
const service = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  healthcheck: z.object({ test: z.array(z.string()).min(2) }).optional(),
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
const compose = composeSchema.parse(parse(readFileSync(COMPOSE, 'utf8'), { merge: true }));
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
  loki: ['observability'],
  grafana: ['observability'],
  alloy: ['observability'],
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
    assert.deepEqual(Object.keys(services).sort(), ['alloy', 'authz', 'cert-rotator', 'envoy-eu-central', 'envoy-us-east', 'grafana', 'loki', 'pki-init', 'rating-api', 'redis']);
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
    for (const w of WRITERS) assert.equal(pkiMounts(svc(w)).length, 1, `${w} mounts the PKI directory`);
  });

  it('gives each consumer only its own workload directory and never the CA keys', () => {
    const own: Record<string, string> = { authz: 'authz', 'rating-api': 'rating-api', 'envoy-us-east': 'edge-us-east', 'envoy-eu-central': 'edge-eu-central' };
    for (const [name, workload] of Object.entries(own)) {
      const sources = pkiMounts(svc(name)).map((m) => m.source.replace(/^\$\{[^}]+\}/, ''));
      const workloadDirs = sources.filter((s) => !s.startsWith('/ca/') && s !== '/jwt');
      assert.deepEqual(workloadDirs, [`/${workload}`], `${name} mounts only its own certificate directory`);
      assert.ok(!sources.includes('/ca'), `${name} does not mount ca/, which holds root.key and intermediate.key`);
      assert.ok(sources.every((s) => s !== '' && s !== '/'), `${name} does not mount the whole PKI`);
    }
    assert.ok(pkiMounts(svc('authz')).some((m) => m.source.endsWith('/jwt')), 'authz can read the JWKS');
    assert.ok(!pkiMounts(svc('rating-api')).some((m) => m.source.endsWith('/jwt')), 'rating-api does not see the JWT keys');
  });

  it('puts each service in the network of its trust zone, with the mesh internal', () => {
    for (const [name, zones] of Object.entries(ZONES)) assert.deepEqual([...(svc(name).networks ?? [])].sort(), [...zones].sort(), `${name} networks`);
    for (const w of WRITERS) assert.equal(svc(w).network_mode, 'none', `${w} needs no network`);
    assert.deepEqual(Object.keys(compose.networks).sort(), ['edge', 'mesh', 'observability']);
    assert.equal(compose.networks.mesh?.internal, true);
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

  it('labels every container with the service (and an edge with its region) that Alloy turns into Loki labels', () => {
    for (const [name, s] of Object.entries(services)) assert.ok(s.labels['zt.service'], `${name} has a zt.service label`);
    assert.equal(svc('authz').labels['zt.service'], 'authz');
    assert.equal(svc('rating-api').labels['zt.service'], 'rating');
    assert.equal(svc('cert-rotator').labels['zt.service'], 'pki');
    assert.deepEqual(svc('envoy-us-east').labels, { 'zt.service': 'edge', 'zt.region': 'us-east' });
    assert.deepEqual(svc('envoy-eu-central').labels, { 'zt.service': 'edge', 'zt.region': 'eu-central' });
  });
});
