import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { spiffeIdentityCheck, PeerIdentityError } from '../../../src/shared/tls/spiffe-identity-check.js';
import { rfc2253 } from '../../../src/shared/tls/peer-identity.js';
import { loadTopology, workloadNamed } from '../../../src/shared/topology.js';
import { givenPki, WORKLOADS_YAML, type TestPki } from '../../helpers/given-pki.js';

describe("edge XFCC subject: the client certificate's subject as Envoy prints it", () => {
  let pki: TestPki;
  before(async () => {
    pki = await givenPki();
  });
  after(async () => {
    await pki.cleanup();
  });

  it('prints the subject exactly as OpenSSL prints it with -nameopt RFC2253, which is what Envoy uses', () => {
    for (const workload of ['client-alice', 'client-bob', 'edge-us-east']) {
      const file = pki.file(workload, 'cert.pem');
      const fromOpenssl = execFileSync('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', file]).toString('utf8').trim().replace(/^subject=/, '');
      const cert = new X509Certificate(execFileSync('openssl', ['x509', '-in', file]));
      assert.equal(rfc2253(cert.subject), fromOpenssl);
    }
  });

  it('keeps RFC 2253 escapes and reverses the RDN order', () => {
    assert.equal(rfc2253('C=US\nO=Doe\\, Inc\nCN=a\\+b'), 'CN=a\\+b,O=Doe\\, Inc,C=US');
  });
});

describe('edge upstream identity check', () => {
  const topology = loadTopology(WORKLOADS_YAML);
  const authz = workloadNamed(topology, 'authz').spiffeId;
  const rating = workloadNamed(topology, 'rating-api').spiffeId;
  const check = spiffeIdentityCheck(authz);
  const cert = (subjectaltname: string) => ({ subjectaltname }) as Parameters<typeof check>[1];

  it('accepts exactly the expected SPIFFE ID, whatever the host name', () => {
    assert.equal(check('127.0.0.1', cert(`DNS:authz, URI:${authz}, IP Address:127.0.0.1`)), undefined);
  });

  it('refuses another SPIFFE ID, a second URI SAN, or none', () => {
    for (const san of [`URI:${rating}`, `URI:${authz}, URI:${authz}-x`, 'DNS:authz', '']) {
      assert.ok(check('authz', cert(san)) instanceof PeerIdentityError, san);
    }
  });
});
