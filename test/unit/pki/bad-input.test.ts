import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { runScript, type ScriptResult } from '../../helpers/run-script.js';
import { snapshot } from '../../helpers/snapshot.js';
import { parse, stringify } from 'yaml';

const run = promisify(execFile);

/**
 * One fixture per failure mode. Each test breaks one input, runs the real command, and asserts the
 * message names the bad file or setting, the exit code is non-zero, and the tree is byte-for-byte
 * what it was, with every intact certificate still verifying.
 */
describe('PKI commands on bad input', function () {
  this.timeout(120_000);
  let pki: TestPki;
  let env: NodeJS.ProcessEnv;

  beforeEach(async function () {
    pki = await givenPki();
    env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile };
  });
  afterEach(async () => pki.cleanup());

  async function expectFailureLeavingTree(cmd: () => Promise<ScriptResult>, message: RegExp, code = 1): Promise<ScriptResult> {
    const before = await snapshot(pki.dir);
    const result = await cmd();
    assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.deepEqual(await snapshot(pki.dir), before, 'the PKI tree changed');
    return result;
  }

  async function assertStillValid(skip: readonly string[] = []): Promise<void> {
    for (const name of pki.spec.workloads.keys()) {
      if (skip.includes(name)) continue;
      const { stdout } = await run('openssl', ['verify', '-CAfile', pki.layout.bundle, '-untrusted', pki.layout.intermediateCert, pki.file(name, 'cert.pem')]);
      assert.match(stdout, /OK/);
    }
  }

  it('names a truncated cert.pem, exits 1 and leaves every certificate in place', async function () {
    const file = await realpath(pki.file('authz', 'cert.pem'));
    const pem = await readFile(file, 'utf8');
    await writeFile(file, pem.slice(0, 300));
    const result = await expectFailureLeavingTree(() => runScript('rotate-certs', [], env), new RegExp(`${file}.*(truncated or corrupted)`));
    const summary = JSON.parse(result.stdout) as { ok: boolean; leaves: { workload: string; action: string }[] };
    assert.equal(summary.ok, false);
    assert.equal(summary.leaves.find((l) => l.workload === 'authz')?.action, 'failed');
    await assertStillValid(['authz']);
  });

  it('names a corrupted cert.pem in pki status and exits 1', async function () {
    const file = await realpath(pki.file('rating-api', 'cert.pem'));
    const pem = await readFile(file, 'utf8');
    // Overwrite one whole base64 line inside the leaf: it still parses as PEM, the DER does not.
    const lines = pem.split('\n');
    lines[5] = 'A'.repeat(lines[5]?.length ?? 64);
    await writeFile(file, lines.join('\n'));
    await expectFailureLeavingTree(() => runScript('pki', ['status'], env), new RegExp(`rating-api: ${file} is not a valid certificate`));
    await assertStillValid(['rating-api']);
  });

  it('names a key that does not match its certificate and leaves both alone', async function () {
    const keyFile = await realpath(pki.file('authz', 'key.pem'));
    const other = await readFile(await realpath(pki.file('rating-api', 'key.pem')), 'utf8');
    await writeFile(keyFile, other);
    await expectFailureLeavingTree(() => runScript('rotate-certs', [], env), new RegExp(`${keyFile} does not match the certificate`));
    await assertStillValid();
  });

  it('says the CA is missing and run pki init, without touching the workloads', async function () {
    await rename(pki.layout.intermediateCert, join(pki.dir, 'intermediate.crt.away'));
    await expectFailureLeavingTree(() => runScript('pki', ['issue', 'authz'], env), /cannot read CA file .*intermediate\.crt.*run: pki init/);
    await expectFailureLeavingTree(() => runScript('rotate-certs', ['--force'], env), /CA is missing under .*ca.*run: pki init/);
    await rename(join(pki.dir, 'intermediate.crt.away'), pki.layout.intermediateCert);
    await assertStillValid();
  });

  it('names an unknown workload, lists the known ones and exits 2', async function () {
    await expectFailureLeavingTree(() => runScript('pki', ['issue', 'client-mallory'], env), /unknown workload "client-mallory".*known: edge-us-east, edge-eu-central, authz/, 2);
    await assertStillValid();
  });

  it('names an unreadable workloads.yaml', async function () {
    const missing = join(pki.dir, 'nope.yaml');
    await expectFailureLeavingTree(() => runScript('rotate-certs', [], { ...env, ZT_PKI_CONFIG: missing }), new RegExp(`cannot read PKI config ${missing}`));
    if (process.getuid?.() !== 0) {
      await chmod(pki.configFile, 0o000);
      await expectFailureLeavingTree(() => runScript('rotate-certs', [], env), /cannot read PKI config .*EACCES/);
      await chmod(pki.configFile, 0o644);
    }
    await writeFile(join(pki.dir, 'broken.yaml'), 'trust_domain: zt.local\nca: [unclosed\n');
    await expectFailureLeavingTree(() => runScript('rotate-certs', [], { ...env, ZT_PKI_CONFIG: join(pki.dir, 'broken.yaml') }), /broken\.yaml is not valid YAML/);
    await assertStillValid();
  });

  it('refuses a TTL under 5 minutes in workloads.yaml, naming the key', async function () {
    const text = await readFile(pki.configFile, 'utf8');
    await writeFile(pki.configFile, text.replace(/(client-alice:\n)/, '$1    ttl: 4m\n'));
    await expectFailureLeavingTree(() => runScript('pki', ['issue', 'client-alice'], env), /workloads\.client-alice\.ttl is 4m; a leaf TTL must be at least 5m/);
    await expectFailureLeavingTree(() => runScript('rotate-certs', ['--force'], env), /workloads\.client-alice\.ttl is 4m/);
    await assertStillValid();
  });

  it('refuses an IP SAN or an IP name constraint in workloads.yaml, saying why, and changes nothing', async function () {
    const text = await readFile(pki.configFile, 'utf8');
    const withIp = parse(text) as { ca: Record<string, unknown>; workloads: Record<string, Record<string, unknown>> };
    withIp.workloads.authz = { ...withIp.workloads.authz, ip: ['127.0.0.1'] };
    await writeFile(pki.configFile, stringify(withIp));
    await expectFailureLeavingTree(() => runScript('rotate-certs', ['--force'], env), /workloads\.authz\.ip: IP SANs are not issued: Envoy \(BoringSSL\) cannot check IP name constraints/);
    const withIpConstraint = parse(text) as { ca: Record<string, unknown> };
    withIpConstraint.ca.permitted_ip = ['127.0.0.0/8'];
    await writeFile(pki.configFile, stringify(withIpConstraint));
    await expectFailureLeavingTree(() => runScript('pki', ['issue', 'authz'], env), /ca\.permitted_ip: IP SANs are not issued/);
    await writeFile(pki.configFile, text);
    await assertStillValid();
  });

  it('refuses a --ttl under 5 minutes on pki issue', async function () {
    await expectFailureLeavingTree(() => runScript('pki', ['issue', 'authz', '--ttl', '299s'], env), /--ttl must be at least 5m/);
    await assertStillValid();
  });
});
