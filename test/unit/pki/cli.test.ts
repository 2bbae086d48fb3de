import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { givenPki, WORKLOADS_YAML, type TestPki } from '../../helpers/given-pki.js';
import { runScript } from '../../helpers/run-script.js';
import { snapshot } from '../../helpers/snapshot.js';

describe('pki, rotate-certs and token commands', function () {
  this.timeout(120_000);

  describe('pki init', function () {
    let dir: string;
    before(async () => (dir = await mkdtemp(join(tmpdir(), 'zt-init-'))));
    after(async () => rm(dir, { recursive: true, force: true }));

    it('creates the CA, every workload, the JWT key and Grafana\'s admin password, then changes nothing and says so', async function () {
      const env = { ZT_PKI_DIR: join(dir, 'out'), ZT_PKI_CONFIG: WORKLOADS_YAML };
      const first = await runScript('pki', ['init'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /created ca, edge-us-east, edge-eu-central, authz, rating-api, redis, cert-rotator, loki, alloy, grafana, client-alice, client-bob, jwt, grafana admin password/);
      const before = await snapshot(join(dir, 'out'));
      const second = await runScript('pki', ['init'], env);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /already initialised; nothing changed/);
      assert.deepEqual(await snapshot(join(dir, 'out')), before);
    });

    it('recreates everything with --force', async function () {
      const env = { ZT_PKI_DIR: join(dir, 'out'), ZT_PKI_CONFIG: WORKLOADS_YAML };
      const rootBefore = await readFile(join(dir, 'out/ca/root.crt'), 'utf8');
      const result = await runScript('pki', ['init', '--force'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.notEqual(await readFile(join(dir, 'out/ca/root.crt'), 'utf8'), rootBefore);
      const status = await runScript('pki', ['status', '--json', '--check'], env);
      assert.equal(status.code, 0, status.stderr);
      const rows = JSON.parse(status.stdout) as { name: string; state: string }[];
      assert.ok(rows.every((r) => r.state === 'ok'));
    });
  });

  describe('pki init after the CA was lost', function () {
    let pki: TestPki;
    before(async () => (pki = await givenPki()));
    after(async () => pki.cleanup());

    it('creates a new CA and reissues every leaf under it, so nothing is left trusting the old root', async function () {
      const { rm: remove } = await import('node:fs/promises');
      await remove(pki.layout.caDir, { recursive: true });
      const env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
      const result = await runScript('pki', ['init'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /created ca, edge-us-east, edge-eu-central, authz, rating-api, redis, cert-rotator, loki, alloy, grafana, client-alice, client-bob/);
      const status = await runScript('pki', ['status', '--check'], env);
      assert.equal(status.code, 0, status.stdout + status.stderr);
    });
  });

  describe('with an intermediate past 2/3 of its life', function () {
    let pki: TestPki;
    before(async () => (pki = await givenPki({ now: new Date(Date.now() - 61 * 86_400_000) })));
    after(async () => pki.cleanup());

    it('renews every leaf but exits 1 reporting renewal_due, and pki status --check fails naming pki renew-intermediate', async function () {
      const env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
      const rotated = await runScript('rotate-certs', [], env);
      assert.equal(rotated.code, 1, rotated.stderr);
      const summary = JSON.parse(rotated.stdout) as { ok: boolean; intermediate: { action: string }; leaves: { action: string }[] };
      assert.equal(summary.intermediate.action, 'renewal_due');
      assert.ok(summary.leaves.every((l) => l.action === 'renewed'), 'the expired leaves are renewed anyway');
      const status = await runScript('pki', ['status', '--check'], env);
      assert.equal(status.code, 1);
      assert.match(status.stderr, /intermediate: due for renewal, which the rotator cannot do .*run pki renew-intermediate/);
      assert.equal((await runScript('pki', ['status'], env)).code, 0, 'without --check it only reports');
    });
  });

  describe('with a PKI', function () {
    let pki: TestPki;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      pki = await givenPki();
      env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
    });
    after(async () => pki.cleanup());

    it('prints a status table with SPIFFE ID, serial, not-after, time left and renewal', async function () {
      const result = await runScript('pki', ['status'], env);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trim().split('\n');
      assert.match(lines[0] ?? '', /^WORKLOAD\s+SPIFFE ID\s+SERIAL\s+NOT AFTER\s+TIME LEFT\s+RENEW$/);
      const alice = lines.find((l) => l.startsWith('client-alice'));
      assert.match(alice ?? '', /spiffe:\/\/zt\.local\/us-east\/client\/alice\s+[0-9a-f]{31,32}\s+\S+Z\s+23h 59m\s+no/);
      assert.equal(lines.length, 1 + 1 + pki.spec.workloads.size);
    });

    it('reports status as JSON with seconds left and due flags', async function () {
      const result = await runScript('pki', ['status', '--json'], env);
      const rows = JSON.parse(result.stdout) as { name: string; spiffe_id: string; seconds_left: number; due: boolean }[];
      const authz = rows.find((r) => r.name === 'authz');
      assert.equal(authz?.spiffe_id, 'spiffe://zt.local/global/svc/authz');
      assert.ok((authz?.seconds_left ?? 0) > 23 * 3600);
      assert.equal(authz?.due, false);
    });

    it('prints one JSON summary line from rotate-certs --dry-run and changes nothing', async function () {
      const before = await snapshot(pki.dir);
      const result = await runScript('rotate-certs', ['--dry-run'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim().split('\n').length, 1);
      const summary = JSON.parse(result.stdout) as { ok: boolean; dry_run: boolean; leaves: { action: string }[] };
      assert.equal(summary.dry_run, true);
      assert.ok(summary.leaves.every((l) => l.action === 'kept'));
      assert.deepEqual(await snapshot(pki.dir), before);
      assert.match(result.stderr, /"msg":"cert_status"/);
    });

    it('rotates every leaf with the root key absent (the rotator never reads it), then renews the intermediate with pki renew-intermediate', async function () {
      const { rename } = await import('node:fs/promises');
      const offline = `${pki.layout.rootDir}.offline`;
      await rename(pki.layout.rootDir, offline);
      const rotated = await runScript('rotate-certs', ['--force'], env);
      assert.equal(rotated.code, 0, rotated.stderr);
      const summary = JSON.parse(rotated.stdout) as { ok: boolean; intermediate: { action: string }; leaves: { action: string }[] };
      assert.deepEqual([summary.ok, summary.intermediate.action], [true, 'kept']);
      assert.ok(summary.leaves.every((l) => l.action === 'renewed'));
      const refused = await runScript('pki', ['renew-intermediate'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /cannot read the root key .*\(ZT_PKI_ROOT_DIR\)/);
      await rename(offline, pki.layout.rootDir);
      const renewed = await runScript('pki', ['renew-intermediate'], env);
      assert.equal(renewed.code, 0, renewed.stderr);
      const after = JSON.parse(renewed.stdout) as { ok: boolean; leaves: { reason: string }[] };
      assert.equal(after.ok, true);
      assert.ok(after.leaves.every((l) => l.reason === 'intermediate_changed'));
    });

    it('mints a token that verifies against jwks.json with the demo claims', async function () {
      const result = await runScript('token', ['--sub', 'bob', '--tenant', 'globex', '--roles', 'rater,viewer', '--region', 'eu-central', '--tier', 'starter', '--ttl', '10m'], env);
      assert.equal(result.code, 0, result.stderr);
      const token = result.stdout.trim();
      const jwks = createLocalJWKSet(JSON.parse(await readFile(pki.layout.jwks, 'utf8')) as Parameters<typeof createLocalJWKSet>[0]);
      const { payload } = await jwtVerify(token, jwks, { issuer: 'https://idp.zt.local', audience: 'rating-api', algorithms: ['ES256'] });
      assert.equal(payload.sub, 'bob');
      assert.equal(payload.tenant, 'globex');
      assert.deepEqual(payload.roles, ['rater', 'viewer']);
      assert.equal(payload.region, 'eu-central');
      assert.equal(payload.tier, 'starter');
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 600);
      assert.equal(payload.nbf, payload.iat);
      assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    });

    it('refuses a token TTL longer than jwt.max_token_ttl', async function () {
      const result = await runScript('token', ['--ttl', '2h'], env);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /--ttl 7200s exceeds jwt.max_token_ttl \(3600s\)/);
      assert.equal(result.stdout, '');
    });
  });

  it('answers --help on every script', async function () {
    for (const [script, args, expected] of [
      ['pki', ['--help'], /Usage: pki/],
      ['pki', ['init', '--help'], /--force/],
      ['pki', ['status', '--help'], /--json/],
      ['rotate-certs', ['--help'], /--dry-run/],
      ['token', ['--help'], /--tenant/],
    ] as const) {
      const result = await runScript(script, args);
      assert.equal(result.code, 0, `${script} ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stdout, expected);
    }
  });
});
