import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { rfc2253 } from '../../../src/edge/client-cert.js';
import { spiffeIdentityCheck, PeerIdentityError } from '../../../src/edge/peer-agent.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';

describe('edge client certificate details', () => {
  let pki: TestPki;
  before(async () => {
    pki = await givenPki();
  });
  after(async () => {
    await pki.cleanup();
  });

  it('prints the subject exactly as OpenSSL prints it with -nameopt RFC2253, which is what Envoy uses', () => {
    for (const workload of ['client-alice', 'client-bob', 'edge-us-east']) {
      const file = pki.layout.certFile(workload);
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
  const check = spiffeIdentityCheck('spiffe://zt.local/global/svc/authz');
  const cert = (subjectaltname: string) => ({ subjectaltname }) as Parameters<typeof check>[1];

  it('accepts exactly the expected SPIFFE ID, whatever the host name', () => {
    assert.equal(check('127.0.0.1', cert('DNS:authz, URI:spiffe://zt.local/global/svc/authz, IP Address:127.0.0.1')), undefined);
  });

  it('refuses another SPIFFE ID, a second URI SAN, or none', () => {
    for (const san of ['URI:spiffe://zt.local/global/svc/rating-api', 'URI:spiffe://zt.local/global/svc/authz, URI:spiffe://zt.local/global/svc/x', 'DNS:authz', '']) {
      assert.ok(check('authz', cert(san)) instanceof PeerIdentityError, san);
    }
  });
});
