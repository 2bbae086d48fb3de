import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import type { SecureVersion } from 'node:tls';
import request from 'supertest';
import type { PolicyEngine } from '../../../src/authz/policy/policy-engine.js';
import { loadPolicyEngine } from '../../../src/authz/policy/load-policy-engine.js';
import { createHash, X509Certificate } from 'node:crypto';
import { formatXfccElement } from '../../../src/shared/xfcc.js';
import { rogueClient } from '../../helpers/rogue-leaf.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';
import { bodyOf, ALICE, CLIENT_CERT_SHA256, givenAuthz, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

type Attempt = { answered: true; status: number } | { answered: false; error: string };

/** One request with the given TLS client options; reports whether any HTTP answer came back. */
function attempt(port: number, tls: { ca: string; cert?: string; key?: string; minVersion?: SecureVersion; maxVersion?: SecureVersion }): Promise<Attempt> {
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

/**
 * Who may ask and who is asked about: the listener takes only certificates of the internal CA, only
 * edges get decisions, and the client is the last XFCC element's SPIFFE ID, which must be a client
 * of the trust domain. The policy engine is the real one, wrapped to count its evaluations.
 */
describe('authz check: TLS peers and client identity', () => {
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
    const req = request(svc.url).get(READ).ca(edge.ca).cert(edge.cert).key(edge.key).set('authorization', `Bearer ${token}`);
    return xfcc === undefined ? req : req.set('x-forwarded-client-cert', xfcc);
  }

  it('fails the handshake of a client without a certificate', async () => {
    const result = await attempt(svc.port, { ca: edge.ca });
    assert.equal(result.answered, false, 'no HTTP answer without a client certificate');
  });

  it('fails the handshake of an edge certificate from a foreign CA', async () => {
    const stranger = await foreign.tls('edge-us-east');
    const result = await attempt(svc.port, { ca: edge.ca, cert: stranger.cert, key: stranger.key });
    assert.equal(result.answered, false, 'no HTTP answer to a foreign CA');
  });

  it('answers an edge of the internal CA (here without XFCC, so no_client_cert)', async () => {
    const result = await attempt(svc.port, { ca: edge.ca, cert: edge.cert, key: edge.key });
    assert.deepEqual(result, { answered: true, status: 403 });
  });

  it('refuses a client that offers nothing newer than TLS 1.1', async () => {
    const result = await attempt(svc.port, { ca: edge.ca, cert: edge.cert, key: edge.key, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    assert.equal(result.answered, false);
    // The server's alert, not a client-side refusal to try.
    assert.match(result.error, /alert protocol version/i);
  });

  it('returns 403 untrusted_peer to client, service and own certificates', async () => {
    for (const workload of ['client-alice', 'client-bob', 'rating-api', 'authz']) {
      const peer = await svc.pki.tls(workload);
      const res = await request(svc.url)
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
    const res = await request(svc.url)
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
