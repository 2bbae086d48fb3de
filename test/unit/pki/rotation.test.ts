import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readWorkloadMaterial } from '../../../src/shared/pki/workload-material.js';
import { initPki, renewIntermediateNow } from '../../../src/pki/authority.js';
import { PkiLockedError, withPkiLock } from '../../../src/pki/lock.js';
import { rotate, type RotateSummary } from '../../../src/pki/rotate.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { rogueLeaf } from '../../helpers/rogue-leaf.js';
import { REPO_ROOT, runScript } from '../../helpers/run-script.js';
import { snapshot } from '../../helpers/snapshot.js';

async function materialOf(pki: TestPki, workload: string) {
  return readWorkloadMaterial(pki.layout, workload);
}

function leafResult(summary: RotateSummary, workload: string) {
  const r = summary.leaves.find((l) => l.workload === workload);
  assert.ok(r, `no result for ${workload}`);
  return r;
}

describe('certificate rotation', function () {
  this.timeout(120_000);
  let pki: TestPki;

  beforeEach(async function () {
    pki = await givenPki();
  });
  afterEach(async () => pki.cleanup());

  it('leaves a leaf at 50% of its lifetime alone', async function () {
    const before = await materialOf(pki, 'authz');
    const { notBefore, notAfter } = before.info;
    const at50 = new Date(notBefore.getTime() + 0.5 * (notAfter.getTime() - notBefore.getTime()));
    const summary = await rotate(pki.layout, pki.spec, { now: at50 });
    assert.equal(summary.ok, true);
    assert.equal(leafResult(summary, 'authz').action, 'kept');
    assert.equal((await materialOf(pki, 'authz')).info.serial, before.info.serial);
  });

  it('renews a leaf at 70% of its lifetime with a new serial and a new key', async function () {
    const before = await materialOf(pki, 'authz');
    const { notBefore, notAfter } = before.info;
    const at70 = new Date(notBefore.getTime() + 0.7 * (notAfter.getTime() - notBefore.getTime()));
    const summary = await rotate(pki.layout, pki.spec, { now: at70 });
    assert.equal(summary.ok, true);
    const result = leafResult(summary, 'authz');
    assert.equal(result.action, 'renewed');
    assert.equal(result.reason, 'lifetime');
    const after = await materialOf(pki, 'authz');
    assert.notEqual(after.info.serial, before.info.serial);
    assert.notEqual(after.keyPem, before.keyPem);
    assert.notEqual(after.leaf.publicKey.export({ format: 'jwk' }).n, before.leaf.publicKey.export({ format: 'jwk' }).n);
    assert.equal(summary.intermediate.action, 'kept');
  });

  it('never reads the root key: past 2/3 of its life the intermediate is reported for an operator, and the run fails', async function () {
    await rm(pki.layout.rootDir, { recursive: true });
    const ca = new X509Certificate(await readFile(pki.layout.intermediateCert));
    const from = Date.parse(ca.validFrom);
    const at70 = new Date(from + 0.7 * (Date.parse(ca.validTo) - from));
    const summary = await rotate(pki.layout, pki.spec, { now: at70 });
    assert.equal(summary.ok, false);
    assert.deepEqual([summary.intermediate.action, summary.intermediate.reason], ['renewal_due', 'lifetime']);
    assert.match(summary.errors.join('\n'), /^intermediate: due for renewal \(lifetime; .*an operator must run `pki renew-intermediate`/m);
    assert.equal(new X509Certificate(await readFile(pki.layout.intermediateCert)).serialNumber, ca.serialNumber, 'the intermediate is left alone');
    assert.ok(summary.leaves.every((l) => l.action === 'renewed'), 'every leaf, past 2/3 by then, is still renewed');
  });

  it('renews the intermediate with pki renew-intermediate, reading the root key, and reissues every leaf under it', async function () {
    const ca = new X509Certificate(await readFile(pki.layout.intermediateCert));
    const summary = await renewIntermediateNow(pki.layout, pki.spec);
    assert.ok(summary);
    assert.equal(summary.ok, true, summary.errors.join('; '));
    const renewed = new X509Certificate(await readFile(pki.layout.intermediateCert));
    assert.notEqual(renewed.serialNumber, ca.serialNumber);
    const root = new X509Certificate(await readFile(pki.layout.rootCert));
    assert.ok(renewed.verify(root.publicKey));
    for (const w of pki.spec.workloads.keys()) {
      assert.deepEqual([leafResult(summary, w).action, leafResult(summary, w).reason], ['renewed', 'intermediate_changed'], w);
      const m = await materialOf(pki, w);
      assert.ok(m.leaf.verify(renewed.publicKey), `${w} is not signed by the new intermediate`);
      assert.equal(m.chain[1]?.serialNumber, renewed.serialNumber, `${w} chain does not carry the new intermediate`);
    }
  });

  it('renews only the intermediate with --leaves-by-rotator, and the next rotation reissues every leaf under it', async function () {
    const ca = new X509Certificate(await readFile(pki.layout.intermediateCert));
    const leafBefore = (await materialOf(pki, 'authz')).info.serial;
    assert.equal(await renewIntermediateNow(pki.layout, pki.spec, { leavesByRotator: true }), undefined);
    assert.notEqual(new X509Certificate(await readFile(pki.layout.intermediateCert)).serialNumber, ca.serialNumber);
    assert.equal((await materialOf(pki, 'authz')).info.serial, leafBefore, 'no leaf was touched');
    await rm(pki.layout.rootDir, { recursive: true });
    const next = await rotate(pki.layout, pki.spec);
    assert.equal(next.ok, true, next.errors.join('; '));
    assert.ok(next.leaves.every((l) => l.reason === 'intermediate_changed'), 'the rotator, without the root key, reissues every leaf');
  });

  it('refuses pki renew-intermediate without the root key, naming ZT_PKI_ROOT_DIR, and changes nothing', async function () {
    await rm(pki.layout.rootDir, { recursive: true });
    const before = await snapshot(pki.dir);
    await assert.rejects(renewIntermediateNow(pki.layout, pki.spec), /cannot read the root key .*root\.key \(ZT_PKI_ROOT_DIR\)/);
    assert.deepEqual(await snapshot(pki.dir), before);
  });

  it('reports an intermediate whose name constraints no longer match workloads.yaml; pki init renews it and every leaf with it', async function () {
    const before = new X509Certificate(await readFile(pki.layout.intermediateCert));
    const spec = { ...pki.spec, permittedDns: [...pki.spec.permittedDns, 'extra'] };
    const reported = await rotate(pki.layout, spec);
    assert.deepEqual([reported.ok, reported.intermediate.action, reported.intermediate.reason], [false, 'renewal_due', 'spec_changed']);
    const init = await initPki(pki.layout, spec);
    assert.ok(init.created.includes('intermediate (spec_changed)'), init.created.join(', '));
    const after = new X509Certificate(await readFile(pki.layout.intermediateCert));
    assert.notEqual(after.serialNumber, before.serialNumber);
    for (const w of pki.spec.workloads.keys()) assert.ok((await materialOf(pki, w)).leaf.verify(after.publicKey), `${w} was reissued under the new intermediate`);
    const again = await rotate(pki.layout, spec);
    assert.equal(again.intermediate.action, 'kept', 'the same declaration renews nothing twice');
    assert.equal(again.ok, true, again.errors.join('; '));
  });

  it('reissues a leaf that carries an IP SAN (written before IP SANs were dropped) as spec_changed', async function () {
    const { swapSymlink, writeVersionDir } = await import('../../../src/pki/atomic-fs.js');
    const chain = await rogueLeaf(pki, 'legacy-authz', `URI:${pki.spiffeId('authz')}, DNS:authz, DNS:localhost, IP:127.0.0.1`);
    const dir = pki.layout.workloadDir('authz');
    await writeVersionDir(dir, 'legacy', [
      { name: 'cert.pem', data: await readFile(chain, 'utf8'), mode: 0o644 },
      { name: 'key.pem', data: await readFile(chain.replace(/\.chain\.pem$/, '.key'), 'utf8'), mode: 0o600 },
      { name: 'ca.pem', data: await readFile(pki.layout.bundle, 'utf8'), mode: 0o644 },
    ]);
    await swapSymlink(join(dir, 'current'), 'legacy');
    assert.deepEqual((await materialOf(pki, 'authz')).info.ip, ['127.0.0.1']);
    const summary = await rotate(pki.layout, pki.spec);
    assert.deepEqual([leafResult(summary, 'authz').action, leafResult(summary, 'authz').reason], ['renewed', 'spec_changed']);
    assert.deepEqual((await materialOf(pki, 'authz')).info.ip, []);
    assert.equal(leafResult(summary, 'rating-api').action, 'kept');
  });

  it('upgrades a PKI laid out before: rotate warns of ca/root.key and moves the JWKS out of jwt/; pki init moves the root key', async function () {
    const { copyFile, rename, stat } = await import('node:fs/promises');
    await rename(pki.layout.rootKey, pki.layout.legacyRootKey);
    await copyFile(pki.layout.jwks, pki.layout.legacyJwks);
    const summary = await rotate(pki.layout, pki.spec);
    assert.equal(summary.ok, true, summary.errors.join('; '));
    assert.deepEqual(summary.warnings, [`${pki.layout.legacyRootKey}: the root key sits beside the files the rotator reads; \`pki init\` moves it to ${pki.layout.rootKey}`]);
    await assert.rejects(stat(pki.layout.legacyJwks), /ENOENT/, 'the signing-key directory no longer holds the JWKS');
    assert.ok((await stat(pki.layout.jwks)).isFile());
    const init = await initPki(pki.layout, pki.spec);
    assert.deepEqual(init.created, ['root key moved']);
    await assert.rejects(stat(pki.layout.legacyRootKey), /ENOENT/);
    assert.equal((await stat(pki.layout.rootKey)).mode & 0o777, 0o600);
    assert.deepEqual((await rotate(pki.layout, pki.spec)).warnings, []);
  });

  it('changes nothing on a dry run, and reports what is due', async function () {
    const before = await snapshot(pki.dir);
    const summary = await rotate(pki.layout, pki.spec, { dryRun: true, force: true, forceJwt: true });
    assert.equal(summary.dry_run, true);
    assert.ok(summary.leaves.every((l) => l.action === 'would_renew'));
    assert.equal(summary.jwt.action, 'would_renew');
    assert.deepEqual(await snapshot(pki.dir), before);
  });

  it('renews the JWT key on force and keeps the old public key until its tokens have expired', async function () {
    const jwks = async (): Promise<string[]> => (JSON.parse(await readFile(pki.layout.jwks, 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const [oldKid] = await jwks();
    const now = new Date();
    const summary = await rotate(pki.layout, pki.spec, { now, forceJwt: true });
    assert.equal(summary.jwt.action, 'renewed');
    const kids = await jwks();
    assert.equal(kids.length, 2);
    assert.ok(kids.includes(oldKid ?? ''));
    // Just before max_token_ttl has passed the old key is still published; just after, it is gone.
    const maxTtl = pki.spec.jwt.maxTokenTtlMs;
    await rotate(pki.layout, pki.spec, { now: new Date(now.getTime() + maxTtl - 1000) });
    assert.ok((await jwks()).includes(oldKid ?? ''));
    const later = await rotate(pki.layout, pki.spec, { now: new Date(now.getTime() + maxTtl + 1000) });
    assert.deepEqual(await jwks(), [kids[0]]);
    assert.ok('removed' in later.jwt && later.jwt.removed.includes(oldKid ?? ''));
    assert.deepEqual((await readdir(pki.layout.jwtDir)).sort(), [kids[0], 'current', 'state.json'].sort(), 'the JWKS is published apart from the signing keys');
    assert.deepEqual(await readdir(pki.layout.jwksDir), ['jwks.json']);
  });

  it('never shows a reader in another process a mismatched pair or a missing file during 50 forced rotations', async function () {
    // 50 rotations of all six leaves: about 300 RSA keys, so allow for a loaded machine.
    this.timeout(600_000);
    const stopFile = join(pki.dir, '..', 'stop-reader');
    const reader = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'test/helpers/pki-reader.ts'), pki.dir, 'authz', stopFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => reader.on('exit', res));
    try {
      // Let the reader get going before the first swap.
      const startedSerial = (await materialOf(pki, 'authz')).info.serial;
      for (let i = 0; i < 50; i++) {
        const summary = await rotate(pki.layout, pki.spec, { force: true });
        assert.equal(summary.ok, true, summary.errors.join('; '));
      }
      assert.notEqual((await materialOf(pki, 'authz')).info.serial, startedSerial);
    } finally {
      await writeFile(stopFile, '');
    }
    assert.equal(await exited, 0);
    const report = JSON.parse(out) as { reads: number; mismatched: number; missing: number; other: number; serials: number; errors: string[] };
    assert.equal(report.mismatched, 0, report.errors.join('\n'));
    assert.equal(report.missing, 0, report.errors.join('\n'));
    assert.equal(report.other, 0, report.errors.join('\n'));
    assert.ok(report.reads > 50, `the reader only read ${report.reads} times`);
    assert.ok(report.serials > 1, 'the reader never saw a rotation');
  });

  it('lets only one of two concurrent rotations in one process write; the other is refused the lock', async function () {
    const run = () => withPkiLock(pki.layout, () => rotate(pki.layout, pki.spec, { force: true }), { wait: false });
    const results = await Promise.allSettled([run(), run()]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof PkiLockedError);
    assert.equal(fulfilled.length, 1);
    assert.equal(refused.length, 1);
    for (const w of pki.spec.workloads.keys()) await materialOf(pki, w);
  });

  it('keeps every certificate valid when two rotate-certs processes run at once', async function () {
    const env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
    const [a, b] = await Promise.all([runScript('rotate-certs', ['--force'], env), runScript('rotate-certs', ['--force'], env)]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON line per run');
    }
    const summaries = [a, b].map((r) => JSON.parse(r.stdout) as { ok: boolean; skipped?: boolean });
    assert.ok(summaries.some((s) => s.ok && !s.skipped), 'neither run rotated');
    for (const w of pki.spec.workloads.keys()) {
      const m = await materialOf(pki, w);
      assert.ok(m.info.notAfter.getTime() > Date.now());
    }
    const leftovers = (await readdir(pki.layout.workloadDir('authz'))).filter((n) => n.startsWith('.') || n.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  });

  it('skips with exit 0 and says so when another rotation holds the lock', async function () {
    const env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
    const result = await withPkiLock(pki.layout, () => runScript('rotate-certs', ['--force'], env), { wait: false });
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as { ok: boolean; skipped: boolean; reason: string };
    assert.equal(summary.skipped, true);
    assert.match(summary.reason, /lock/);
  });
});
