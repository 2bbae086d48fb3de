import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { splitPem } from '../../../src/shared/pki/workload-material.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ROGUE_SANS, rogueLeaf } from '../../helpers/rogue-leaf.js';

const run = promisify(execFile);

/** `openssl x509 -ext` output for the named extensions, one block per extension. */
async function extensions(file: string, names: string): Promise<string> {
  const { stdout } = await run('openssl', ['x509', '-in', file, '-noout', '-ext', names]);
  return stdout;
}

function block(text: string, heading: string): string {
  const start = text.indexOf(heading);
  assert.notEqual(start, -1, `missing extension ${heading} in:\n${text}`);
  const rest = text.slice(start + heading.length);
  const next = rest.search(/\nX509v3 /);
  return (next === -1 ? rest : rest.slice(0, next)).trim();
}

describe('PKI certificates, checked by openssl', function () {
  let pki: TestPki;
  let intermediateFile: string;

  before(async function () {
    pki = await givenPki();
    intermediateFile = pki.layout.intermediateCert;
  });
  after(async () => pki.cleanup());

  it('openssl verifies every leaf against ca/bundle.crt with the intermediate as untrusted', async function () {
    for (const name of pki.spec.workloads.keys()) {
      const { stdout } = await run('openssl', ['verify', '-CAfile', pki.layout.bundle, '-untrusted', intermediateFile, pki.file(name, 'cert.pem')]);
      assert.match(stdout, /: OK\n$/, `${name}: ${stdout}`);
    }
  });

  it('puts exactly one URI SAN (the SPIFFE ID), the declared DNS SANs and no IP SAN in each leaf', async function () {
    for (const w of pki.spec.workloads.values()) {
      const san = block(await extensions(pki.file(w.name, 'cert.pem'), 'subjectAltName'), 'X509v3 Subject Alternative Name:');
      const names = san.split(/,\s*/);
      assert.deepEqual(names.filter((n) => n.startsWith('URI:')), [`URI:${w.spiffeId}`], w.name);
      assert.deepEqual(names.filter((n) => n.startsWith('DNS:')), w.dns.map((d) => `DNS:${d}`), w.name);
      assert.deepEqual(names.filter((n) => n.startsWith('IP Address:')), [], w.name);
    }
  });

  it('gives services and edges serverAuth + clientAuth and clients clientAuth only', async function () {
    for (const w of pki.spec.workloads.values()) {
      const eku = block(await extensions(pki.file(w.name, 'cert.pem'), 'extendedKeyUsage'), 'X509v3 Extended Key Usage:');
      const expected = w.kind === 'client' ? 'TLS Web Client Authentication' : 'TLS Web Server Authentication, TLS Web Client Authentication';
      assert.equal(eku, expected, w.name);
    }
  });

  it('marks leaves CA:FALSE with digitalSignature and keyEncipherment only', async function () {
    for (const w of pki.spec.workloads.values()) {
      const text = await extensions(pki.file(w.name, 'cert.pem'), 'basicConstraints,keyUsage');
      assert.equal(block(text, 'X509v3 Basic Constraints: critical'), 'CA:FALSE', w.name);
      assert.equal(block(text, 'X509v3 Key Usage: critical'), 'Digital Signature, Key Encipherment', w.name);
    }
  });

  it('limits the intermediate to pathlen 0, permits the trust domain and the stack names, and excludes every IP address', async function () {
    const text = await extensions(intermediateFile, 'basicConstraints,keyUsage,nameConstraints');
    assert.equal(block(text, 'X509v3 Basic Constraints: critical'), 'CA:TRUE, pathlen:0');
    assert.equal(block(text, 'X509v3 Key Usage: critical'), 'Certificate Sign, CRL Sign');
    const lines = block(text, 'X509v3 Name Constraints: critical')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    assert.deepEqual(lines, [
      'Permitted:',
      'URI:zt.local',
      ...pki.spec.permittedDns.map((d) => `DNS:${d}`),
      'Excluded:',
      'IP:0.0.0.0/0.0.0.0',
      'IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0',
    ]);
  });

  it('makes the root a 10-year RSA-3072 CA and the leaves RSA-2048 with a fresh key each', async function () {
    const root = new X509Certificate(await readFile(pki.layout.rootCert));
    assert.equal(root.ca, true);
    assert.equal(root.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365.25 * 86400_000);
    assert.ok(Math.abs(years - 10) < 0.01, `root lifetime ${years} years`);
    const moduli = new Set<string>();
    for (const name of pki.spec.workloads.keys()) {
      const leaf = new X509Certificate(await readFile(pki.file(name, 'cert.pem')));
      assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048, name);
      moduli.add(leaf.publicKey.export({ format: 'jwk' }).n ?? '');
    }
    assert.equal(moduli.size, pki.spec.workloads.size);
  });

  it('backdates notBefore by 60 s and gives leaves the declared 24 h TTL', async function () {
    for (const name of pki.spec.workloads.keys()) {
      const leaf = new X509Certificate(await readFile(pki.file(name, 'cert.pem')));
      const lifetimeS = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
      assert.equal(lifetimeS, 24 * 3600 + 60, name);
    }
  });

  it('uses random positive 128-bit serials', async function () {
    const serials = new Set<string>();
    for (const name of pki.spec.workloads.keys()) {
      const { stdout } = await run('openssl', ['x509', '-in', pki.file(name, 'cert.pem'), '-noout', '-serial']);
      const hex = stdout.trim().replace(/^serial=/, '').replace(/^00/, '');
      assert.ok(hex.length >= 31 && hex.length <= 32, `serial ${hex} of ${name} is not 128-bit`);
      serials.add(hex);
    }
    assert.equal(serials.size, pki.spec.workloads.size);
  });

  it('writes cert.pem as the leaf followed by the intermediate, and keys and passwords with mode 0600', async function () {
    const { stat } = await import('node:fs/promises');
    const intermediate = await readFile(intermediateFile, 'utf8');
    for (const name of pki.spec.workloads.keys()) {
      const chain = splitPem(await readFile(pki.file(name, 'cert.pem'), 'utf8'));
      assert.equal(chain.length, 2, name);
      assert.equal(chain[1]?.trim(), intermediate.trim(), name);
      assert.equal((await stat(pki.file(name, 'key.pem'))).mode & 0o777, 0o600, name);
    }
    for (const user of ['authz', 'rating-api', 'cert-rotator', 'redis']) {
      const file = join(pki.layout.current(user), 'redis-password');
      assert.equal((await stat(file)).mode & 0o777, 0o600, file);
      assert.match(await readFile(file, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/, '256 random bits, base64url');
    }
    for (const other of ['edge-us-east', 'client-alice', 'loki']) {
      await assert.rejects(stat(join(pki.layout.current(other), 'redis-password')), /ENOENT/, `${other} is not a Redis user`);
    }
    for (const secret of [pki.layout.rootKey, pki.layout.intermediateKey, pki.layout.redisAcl, join(pki.layout.workloadDir('grafana'), 'admin-password')]) {
      assert.equal((await stat(secret)).mode & 0o777, 0o600, secret);
    }
    assert.equal((await stat(pki.layout.rootDir)).mode & 0o777, 0o700, 'the root key sits in a directory of its own');
    assert.ok(!pki.layout.rootKey.startsWith(pki.layout.caDir), 'and not in ca/, which the rotator reads');
  });

  it('makes openssl refuse leaves signed by the real intermediate whose DNS, URI or IP SAN falls outside the name constraints', async function () {
    // Signed with openssl itself, not with the project's code, so the constraints are shown to be
    // enforced on any leaf the intermediate's key could sign.
    for (const [name, san] of Object.entries(ROGUE_SANS)) {
      const file = await rogueLeaf(pki, name, san);
      await assert.rejects(
        run('openssl', ['verify', '-CAfile', pki.layout.bundle, '-untrusted', intermediateFile, file]),
        (err: Error & { stdout?: string; stderr?: string }) => /(permitted|excluded) subtree violation/i.test(`${err.stdout ?? ''}${err.stderr ?? ''}`),
        name,
      );
    }
  });
});
