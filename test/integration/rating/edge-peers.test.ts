import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ALICE, ratingsPath, startApi, ztHeaders, type Pem, type RunningApi } from './rating-harness.js';
import { rawRequest } from './raw-request.js';
import { bodyOf, errorBody } from './response-shapes.js';

describe('rating API peers: only edges may call', () => {
  let pki: TestPki;
  let foreign: TestPki;
  let api: RunningApi;
  const path = ratingsPath('acme', 'i1');

  before(async () => {
    // `now` forces a freshly generated PKI: a CA of its own issuing the very same SPIFFE IDs.
    [pki, foreign] = await Promise.all([givenPki(), givenPki({ now: new Date() })]);
  });
  after(async () => {
    await Promise.all([pki.cleanup(), foreign.cleanup()]);
  });
  beforeEach(async () => {
    api = await startApi(pki, new MemoryRatingStore());
  });
  afterEach(async () => {
    await api.close();
  });

  function stored(): number {
    return (api.store as MemoryRatingStore).itemCount;
  }

  for (const edge of ['edge-us-east', 'edge-eu-central']) {
    it(`accepts a write from ${edge}`, async () => {
      const res = await api.as(edge).post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(res.status, 201);
    });
  }

  for (const workload of ['client-alice', 'client-bob', 'authz', 'rating-api']) {
    it(`answers ${workload}'s certificate with 403 untrusted_peer even when it sends x-zt-* headers`, async () => {
      const res = await api.as(workload).post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(res.status, 403);
      assert.equal(bodyOf(errorBody, res).error, 'untrusted_peer');
      assert.equal(stored(), 0);
    });
  }

  it('answers a non-edge peer 403 untrusted_peer on every path, so it cannot even probe routes', async () => {
    for (const p of ['/healthz', '/nope', path]) {
      const res = await api.as('client-alice').get(p);
      assert.equal(res.status, 403, p);
      assert.equal(bodyOf(errorBody, res).error, 'untrusted_peer', p);
    }
  });

  it('fails the TLS handshake of a client without a certificate', async () => {
    const { ca } = await pki.tls('edge-us-east');
    await assert.rejects(rawRequest(api.port, { ca }, { method: 'GET', path: '/healthz' }), (err: NodeJS.ErrnoException) => {
      // TLS 1.3: the server's "certificate required" alert arrives once the client has sent its request.
      assert.equal(err.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
      return true;
    });
  });

  it('fails the TLS handshake of an edge certificate from a foreign CA with the same SPIFFE ID', async () => {
    const own = await pki.tls('edge-us-east');
    const stranger = await foreign.tls('edge-us-east');
    assert.equal(foreign.spiffeId('edge-us-east'), pki.spiffeId('edge-us-east'));
    const pem: Pem = { ca: own.ca, cert: stranger.cert, key: stranger.key };
    await assert.rejects(rawRequest(api.port, pem, { method: 'POST', path, headers: { ...ztHeaders(ALICE), 'content-type': 'application/json' }, body: '{"score":5}' }), (err: NodeJS.ErrnoException) => {
      // Node drops a TLS 1.3 peer whose certificate fails verification without an alert.
      assert.ok(['ECONNRESET', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'].includes(err.code ?? ''), `${err.code}: ${err.message}`);
      return true;
    });
    assert.equal(stored(), 0);
  });

  it('negotiates TLS 1.2 or later and presents the rating-api identity', async () => {
    const pem = await pki.tls('edge-us-east');
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: api.port, servername: 'rating-api', ...pem }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      assert.match(socket.getProtocol() ?? '', /^TLSv1\.[23]$/);
      assert.match(socket.getPeerCertificate().subjectaltname ?? '', /URI:spiffe:\/\/zt\.local\/global\/svc\/rating-api/);
    } finally {
      socket.destroy();
    }
  });

  it('refuses a client that offers only TLS 1.1', async () => {
    const pem = await pki.tls('edge-us-east');
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: api.port, servername: 'rating-api', ...pem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      }),
      // The alert comes from the server: this client was willing to speak TLS 1.1.
      (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    );
  });

  it('answers an edge of another trust domain with 403 untrusted_peer', async () => {
    const elsewhere = await startApi(pki, new MemoryRatingStore(), 'other.local');
    try {
      const res = await elsewhere.as('edge-us-east').post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(res.status, 403);
      assert.equal(bodyOf(errorBody, res).error, 'untrusted_peer');
      assert.equal((elsewhere.store as MemoryRatingStore).itemCount, 0);
    } finally {
      await elsewhere.close();
    }
  });
});
