import assert from 'node:assert/strict';
import { connect as h2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { SecureVersion } from 'node:tls';
import request from 'supertest';
import type { PolicyEngine } from '../../../src/authz/policy/policy-engine.js';
import { loadPolicyEngine } from '../../../src/authz/policy/load-policy-engine.js';
import { createHash, X509Certificate } from 'node:crypto';
import { formatXfccElement } from '../../../src/shared/xfcc.js';
import { createMtlsServer } from '../../../src/shared/tls/mtls-server.js';
import { WorkloadTls } from '../../../src/shared/tls/workload-tls.js';
import { readFile } from 'node:fs/promises';
import { rogueClient, rogueLeaf } from '../../helpers/rogue-leaf.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';
import { bodyOf, ALICE, CHECK_PROTOCOLS, CLIENT_CERT_SHA256, givenAuthz, tokenFor, xfccFor, type CheckProtocol, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

type Attempt = { answered: true; status: number } | { answered: false; error: string };

type TlsOptions = { ca: string; cert?: string; key?: string; minVersion?: SecureVersion; maxVersion?: SecureVersion };

/** One request with the given TLS client options over `protocol`; reports whether any HTTP answer came back. */
function attempt(port: number, tls: TlsOptions, protocol: CheckProtocol): Promise<Attempt> {
  if (protocol === 'h2') return attemptH2(port, tls);
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: 'authz', path: READ, method: 'GET', agent: false, ...tls });
    req.on('response', (res) => {
      res.resume();
      resolve({ answered: true, status: res.statusCode ?? 0 });
    });
    req.on('error', (err) => resolve({ answered: false, error: err.message }));
    req.end();
  });
}

/** {@link attempt} over HTTP/2: a session that offers `h2` only, one stream. */
function attemptH2(port: number, tls: TlsOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let errorText = 'the connection closed without an answer';
    const session = h2Connect(`https://127.0.0.1:${port}`, { servername: 'authz', ...tls });
    let settled = false;
    const done = (result: Attempt): void => {
      if (settled) return;
      settled = true;
      session.destroy();
      resolve(result);
    };
    session.on('error', (err: Error) => {
      errorText = err.message;
    });
    session.on('close', () => done({ answered: false, error: errorText }));
    const stream = session.request({ ':method': 'GET', ':path': READ });
    stream.on('response', (headers) => done({ answered: true, status: Number(headers[':status']) }));
    stream.on('error', (err: Error) => {
      errorText = err.message;
    });
    // A refused handshake (TLS 1.3: the alert comes after the client's Finished) fails the stream.
    stream.on('close', () => done({ answered: false, error: errorText }));
    stream.end();
  });
}

/**
 * Who may ask and who is asked about: the listener takes only certificates of the internal CA, only
 * edges get decisions, and the client is the last XFCC element's SPIFFE ID, which must be a client
 * of the trust domain. The policy engine is the real one, wrapped to count its evaluations.
 */
for (const protocol of CHECK_PROTOCOLS)
describe(`authz check: TLS peers and client identity (${protocol})`, () => {
  let svc: RunningAuthz;
  let foreign: TestPki;
  let edge: { cert: string; key: string; ca: string };
  let evaluations = 0;
  let token: string;

  before(async () => {
    await givenBuiltPolicy();
    const real = await loadPolicyEngine({ wasmPath, dataPath });
    const counting: PolicyEngine = {
      evaluate: (input) => {
        evaluations++;
        return real.evaluate(input);
      },
    };
    svc = await givenAuthz({ deps: { policy: counting } });
    // The same declaration issued by another CA: identical SPIFFE IDs, foreign trust anchors.
    foreign = await givenPki({ patch: {} });
    edge = await svc.pki.tls('edge-us-east');
    token = await tokenFor(svc.pki, ALICE);
  });

  after(async () => {
    await svc.close();
    await foreign.cleanup();
  });

  beforeEach(() => {
    evaluations = 0;
  });

  function asEdge(xfcc: string | undefined): request.Test {
    const req = request(svc.url, { http2: protocol === 'h2' }).get(READ).ca(edge.ca).cert(edge.cert).key(edge.key).set('authorization', `Bearer ${token}`);
    return xfcc === undefined ? req : req.set('x-forwarded-client-cert', xfcc);
  }

  it('fails the handshake of a client without a certificate', async () => {
    const result = await attempt(svc.port, { ca: edge.ca }, protocol);
    assert.equal(result.answered, false, 'no HTTP answer without a client certificate');
  });

  it('fails the handshake of an edge certificate from a foreign CA', async () => {
    const stranger = await foreign.tls('edge-us-east');
    const result = await attempt(svc.port, { ca: edge.ca, cert: stranger.cert, key: stranger.key }, protocol);
    assert.equal(result.answered, false, 'no HTTP answer to a foreign CA');
  });

  it('answers an edge of the internal CA (here without XFCC, so no_client_cert)', async () => {
    const result = await attempt(svc.port, { ca: edge.ca, cert: edge.cert, key: edge.key }, protocol);
    assert.deepEqual(result, { answered: true, status: 403 });
  });

  it('drops the connection of an edge certificate without clientAuth in its extended key usage (none, or serverAuth only)', async () => {
    const edgeId = svc.pki.spiffeId('edge-us-east');
    for (const eku of [null, 'serverAuth']) {
      const chain = await rogueLeaf(svc.pki, `edge-eku-${eku ?? 'none'}`, `URI:${edgeId}, DNS:localhost`, eku);
      const tls = { ca: edge.ca, cert: await readFile(chain, 'utf8'), key: await readFile(chain.replace(/\.chain\.pem$/, '.key'), 'utf8') };
      const result = await attempt(svc.port, tls, protocol);
      assert.equal(result.answered, false, `no HTTP answer to an edge certificate with EKU ${String(eku)}`);
    }
    const withClientAuth = await rogueLeaf(svc.pki, 'edge-eku-client', `URI:${edgeId}, DNS:localhost`, 'clientAuth');
    const tls = { ca: edge.ca, cert: await readFile(withClientAuth, 'utf8'), key: await readFile(withClientAuth.replace(/\.chain\.pem$/, '.key'), 'utf8') };
    assert.deepEqual(await attempt(svc.port, tls, protocol), { answered: true, status: 403 }, 'the same leaf with clientAuth gets an answer (no XFCC: no_client_cert)');
  });

  it('refuses a client that offers nothing newer than TLS 1.1', async () => {
    const result = await attempt(svc.port, { ca: edge.ca, cert: edge.cert, key: edge.key, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, protocol);
    assert.equal(result.answered, false);
    // The server's alert, not a client-side refusal to try.
    assert.match(result.error, /alert protocol version/i);
  });

  it('returns 403 untrusted_peer to client, service and own certificates', async () => {
    for (const workload of ['client-alice', 'client-bob', 'rating-api', 'authz']) {
      const peer = await svc.pki.tls(workload);
      const res = await request(svc.url, { http2: protocol === 'h2' })
        .get(READ)
        .ca(peer.ca)
        .cert(peer.cert)
        .key(peer.key)
        .set('authorization', `Bearer ${token}`)
        .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
      assert.equal(res.status, 403, workload);
      assert.equal(bodyOf(res).error, 'untrusted_peer', workload);
    }
    assert.equal(evaluations, 0, 'the policy is never asked for an untrusted peer');
  });

  it('returns 403 no_client_cert without a policy call when XFCC is missing, empty or garbled', async () => {
    const garbled = [undefined, '', 'URI="spiffe://zt.local/us-east/client/alice', 'By=a;;URI=b', 'Nope=1', 'URI=spiffe://zt.local/us-east/client/alice,', ';', '"'];
    for (const xfcc of garbled) {
      const res = await asEdge(xfcc);
      assert.equal(res.status, 403, String(xfcc));
      assert.equal(bodyOf(res).error, 'no_client_cert', String(xfcc));
    }
    assert.equal(evaluations, 0);
  });

  it('returns 403 no_client_cert when the last element has no usable client SPIFFE ID', async () => {
    const by = svc.pki.spiffeId('edge-us-east');
    const unusable = [
      formatXfccElement({ by, hash: 'ab', subject: '', uri: [] }),
      formatXfccElement({ by, hash: 'ab', subject: '', uri: 'https://alice.example' }),
      formatXfccElement({ by, hash: 'ab', subject: '', uri: 'spiffe://evil.local/us-east/client/alice' }),
      formatXfccElement({ by, hash: 'ab', subject: '', uri: svc.pki.spiffeId('edge-us-east') }),
      formatXfccElement({ by, hash: 'ab', subject: '', uri: svc.pki.spiffeId('rating-api') }),
      formatXfccElement({ by, hash: 'ab', subject: '', uri: [svc.pki.spiffeId('client-alice'), svc.pki.spiffeId('client-alice').replace(/alice$/, 'bob')] }),
    ];
    for (const xfcc of unusable) {
      const res = await asEdge(xfcc);
      assert.equal(bodyOf(res).error, 'no_client_cert', xfcc);
      assert.equal(res.status, 403);
    }
    assert.equal(evaluations, 0);
  });

  it('refuses with 403 no_client_cert a forwarded certificate (XFCC Cert) that does not allow clientAuth or is not the one Hash names', async () => {
    const by = svc.pki.spiffeId('edge-us-east');
    const element = async (name: string, eku: string | null, hashOf?: string): Promise<string> => {
      const leaf = new X509Certificate((await rogueClient(svc.pki, name, eku)).cert);
      const hash = createHash('sha256').update(leaf.raw).digest('hex');
      // The tokens here are bound to the test hash; the certificate's own hash goes in when it is right.
      return formatXfccElement({ by, hash: hashOf ?? hash, cert: leaf.toString(), subject: `CN=${name}`, uri: `spiffe://zt.local/us-east/client/${name}` });
    };
    const refused = [await element('no-eku', null), await element('server-only', 'serverAuth'), await element('wrong-hash', 'clientAuth', 'ab'.repeat(32))];
    for (const xfcc of refused) {
      const res = await asEdge(xfcc);
      assert.equal(res.status, 403, xfcc.slice(0, 80));
      assert.equal(bodyOf(res).error, 'no_client_cert');
    }
    assert.equal(evaluations, 0, 'the policy is never asked about a certificate that is no TLS client certificate');
    const good = await asEdge(await element('client-ok', 'clientAuth'));
    assert.notEqual(bodyOf(good).error, 'no_client_cert', 'a clientAuth certificate is a client');
  });

  it('takes the client from the last XFCC element, the one the edge set', async () => {
    const forged = formatXfccElement({ by: svc.pki.spiffeId('edge-eu-central'), hash: CLIENT_CERT_SHA256, subject: 'CN=x', uri: svc.pki.spiffeId('client-bob') });
    const res = await asEdge(`${forged},${xfccFor(svc.pki, 'client-alice')}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-zt-client'], svc.pki.spiffeId('client-alice'));

    const reversed = await asEdge(`${xfccFor(svc.pki, 'client-alice')},${forged}`);
    assert.equal(reversed.status, 403);
    assert.equal(bodyOf(reversed).error, 'cross_region', 'bob (eu-central) through the us-east edge');
  });

  it('reads the edge region from the edge certificate, never from a header', async () => {
    const euEdge = await svc.pki.tls('edge-eu-central');
    const res = await request(svc.url, { http2: protocol === 'h2' })
      .get(READ)
      .ca(euEdge.ca)
      .cert(euEdge.cert)
      .key(euEdge.key)
      .set('authorization', `Bearer ${token}`)
      .set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'))
      .set('x-zt-region', 'us-east')
      .set('x-edge-region', 'us-east');
    assert.equal(res.status, 403);
    assert.equal(bodyOf(res).error, 'cross_region');
    const line = svc.decisions().find((d) => d.request_id === bodyOf(res).request_id);
    assert.equal(line?.edge_region, 'eu-central');
  });
});

describe('the h2 check listener: HTTP/1.1-only limits', () => {
  it('refuses maxHeaderSize and connectionsCheckingIntervalMs, which Node would not apply to its HTTP/1.1 side, instead of ignoring them', async () => {
    const pki = await givenPki();
    try {
      const tls = await WorkloadTls.load(pki.dir, 'authz');
      const handler = (): void => undefined;
      assert.throws(() => createMtlsServer(tls, handler, { trustDomain: pki.spec.trustDomain, http2: true, http: { maxHeaderSize: 1024 } }), /HTTP\/1\.1-only/);
      assert.throws(() => createMtlsServer(tls, handler, { trustDomain: pki.spec.trustDomain, http2: true, http: { connectionsCheckingIntervalMs: 1000 } }), /HTTP\/1\.1-only/);
      // The HTTP/1.1 listener takes them (the dev edge's 431 tests use maxHeaderSize).
      createMtlsServer(tls, handler, { trustDomain: pki.spec.trustDomain, http: { maxHeaderSize: 1024, connectionsCheckingIntervalMs: 1000 } }).close();
    } finally {
      await pki.cleanup();
    }
  });
});
