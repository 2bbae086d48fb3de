import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { splitPem } from '../../../src/pki/cert-files.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';

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
      const { stdout } = await run('openssl', ['verify', '-CAfile', pki.layout.bundle, '-untrusted', intermediateFile, pki.layout.certFile(name)]);
      assert.match(stdout, /: OK\n$/, `${name}: ${stdout}`);
    }
  });

  it('puts exactly one URI SAN (the SPIFFE ID) and the declared DNS and IP SANs in each leaf', async function () {
    for (const w of pki.spec.workloads.values()) {
      const san = block(await extensions(pki.layout.certFile(w.name), 'subjectAltName'), 'X509v3 Subject Alternative Name:');
      const names = san.split(/,\s*/);
      assert.deepEqual(names.filter((n) => n.startsWith('URI:')), [`URI:${w.spiffeId}`], w.name);
      assert.deepEqual(names.filter((n) => n.startsWith('DNS:')), w.dns.map((d) => `DNS:${d}`), w.name);
      assert.deepEqual(names.filter((n) => n.startsWith('IP Address:')), w.ip.map((i) => `IP Address:${i}`), w.name);
    }
  });

  it('gives services and edges serverAuth + clientAuth and clients clientAuth only', async function () {
    for (const w of pki.spec.workloads.values()) {
      const eku = block(await extensions(pki.layout.certFile(w.name), 'extendedKeyUsage'), 'X509v3 Extended Key Usage:');
      const expected = w.kind === 'client' ? 'TLS Web Client Authentication' : 'TLS Web Server Authentication, TLS Web Client Authentication';
      assert.equal(eku, expected, w.name);
    }
  });

  it('marks leaves CA:FALSE with digitalSignature and keyEncipherment only', async function () {
    for (const w of pki.spec.workloads.values()) {
      const text = await extensions(pki.layout.certFile(w.name), 'basicConstraints,keyUsage');
      assert.equal(block(text, 'X509v3 Basic Constraints: critical'), 'CA:FALSE', w.name);
      assert.equal(block(text, 'X509v3 Key Usage: critical'), 'Digital Signature, Key Encipherment', w.name);
    }
  });

  it('limits the intermediate to pathlen 0 and to the trust domain and the stack names', async function () {
    const text = await extensions(intermediateFile, 'basicConstraints,keyUsage,nameConstraints');
    assert.equal(block(text, 'X509v3 Basic Constraints: critical'), 'CA:TRUE, pathlen:0');
    assert.equal(block(text, 'X509v3 Key Usage: critical'), 'Certificate Sign, CRL Sign');
    const permitted = block(text, 'X509v3 Name Constraints: critical')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && l !== 'Permitted:');
    assert.deepEqual(permitted, [
      'URI:zt.local',
      ...pki.spec.permittedDns.map((d) => `DNS:${d}`),
      'IP:127.0.0.0/255.0.0.0',
      'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF',
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
      const leaf = new X509Certificate(await readFile(pki.layout.certFile(name)));
      assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048, name);
      moduli.add(leaf.publicKey.export({ format: 'jwk' }).n ?? '');
    }
    assert.equal(moduli.size, pki.spec.workloads.size);
  });

  it('backdates notBefore by 60 s and gives leaves the declared 24 h TTL', async function () {
    for (const name of pki.spec.workloads.keys()) {
      const leaf = new X509Certificate(await readFile(pki.layout.certFile(name)));
      const lifetimeS = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
      assert.equal(lifetimeS, 24 * 3600 + 60, name);
    }
  });

  it('uses random positive 128-bit serials', async function () {
    const serials = new Set<string>();
    for (const name of pki.spec.workloads.keys()) {
      const { stdout } = await run('openssl', ['x509', '-in', pki.layout.certFile(name), '-noout', '-serial']);
      const hex = stdout.trim().replace(/^serial=/, '').replace(/^00/, '');
      assert.ok(hex.length >= 31 && hex.length <= 32, `serial ${hex} of ${name} is not 128-bit`);
      serials.add(hex);
    }
    assert.equal(serials.size, pki.spec.workloads.size);
  });

  it('writes cert.pem as the leaf followed by the intermediate, and keys with mode 0600', async function () {
    const { stat } = await import('node:fs/promises');
    const intermediate = await readFile(intermediateFile, 'utf8');
    for (const name of pki.spec.workloads.keys()) {
      const chain = splitPem(await readFile(pki.layout.certFile(name), 'utf8'));
      assert.equal(chain.length, 2, name);
      assert.equal(chain[1]?.trim(), intermediate.trim(), name);
      assert.equal((await stat(pki.layout.keyFile(name))).mode & 0o777, 0o600, name);
    }
    for (const key of [pki.layout.rootKey, pki.layout.intermediateKey]) {
      assert.equal((await stat(key)).mode & 0o777, 0o600, key);
    }
  });

  it('makes openssl refuse a leaf whose SAN falls outside the name constraints', async function () {
    // A leaf for a DNS name the intermediate does not permit, signed by the real intermediate,
    // proves the constraints are enforced rather than merely present.
    const forge = (await import('node-forge')).default;
    const { generateRsaKey } = await import('../../../src/pki/keys.js');
    const { buildLeafCert, issuerFromPem } = await import('../../../src/pki/x509.js');
    const issuer = issuerFromPem(await readFile(intermediateFile, 'utf8'), await readFile(pki.layout.intermediateKey, 'utf8'));
    const pem = buildLeafCert({
      workload: 'rogue',
      kind: 'svc',
      spiffeId: 'spiffe://evil.example/global/svc/rogue',
      trustDomain: 'zt.local',
      dns: ['www.example.com'],
      ip: [],
      keys: await generateRsaKey(2048),
      issuer,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
    });
    assert.ok(forge.pki.certificateFromPem(pem));
    const file = join(pki.dir, 'rogue.pem');
    await writeFile(file, pem);
    await assert.rejects(
      run('openssl', ['verify', '-CAfile', pki.layout.bundle, '-untrusted', intermediateFile, file]),
      (err: Error & { stdout?: string; stderr?: string }) => /name constraint|permitted subtree/i.test(`${err.stdout ?? ''}${err.stderr ?? ''}`),
    );
  });
});
