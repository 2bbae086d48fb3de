import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ALICE, MODERATOR, ratingsPath, startApi, ztHeaders, type Pem, type RunningApi } from './rating-harness.js';
import { rawRequest } from './raw-request.js';
import { RecordingStore } from './recording-store.js';
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
    api = await startApi(pki, new RecordingStore());
  });
  afterEach(async () => {
    await api.close();
  });

  function stored(): Promise<number> {
    return (api.store as RecordingStore).itemsStored();
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
      assert.equal(await stored(), 0);
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
    assert.equal(await stored(), 0);
  });

  /** A leaf for edge-us-east's SPIFFE ID from the real intermediate, with `eku` as its extended key usage line (none when empty). */
  async function edgeLeaf(name: string, eku: string): Promise<Pem> {
    const base = join(pki.dir, name);
    const run = promisify(execFile);
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
    await writeFile(`${base}.ext`, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${eku}subjectAltName=URI:${pki.spiffeId('edge-us-east')},DNS:localhost\n`);
    await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', pki.layout.intermediateCert, '-CAkey', pki.layout.intermediateKey, '-CAcreateserial', '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
    const cert = (await readFile(`${base}.crt`, 'utf8')) + (await readFile(pki.layout.intermediateCert, 'utf8'));
    return { ca: (await pki.tls('edge-us-east')).ca, cert, key: await readFile(`${base}.key`, 'utf8') };
  }

  const write = { method: 'POST', path, headers: { ...ztHeaders(ALICE), 'content-type': 'application/json' }, body: '{"score":5}' };

  it('fails the TLS handshake of an edge certificate whose extended key usage leaves out clientAuth', async () => {
    await assert.rejects(rawRequest(api.port, await edgeLeaf('server-auth-only', 'extendedKeyUsage=serverAuth\n'), write), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    assert.equal(await stored(), 0);
  });

  it('drops the connection of an edge certificate without any extended key usage, and logs why', async () => {
    await assert.rejects(rawRequest(api.port, await edgeLeaf('no-eku', ''), write), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    assert.equal(await stored(), 0);
    const [refused] = api.logs.withMsg('connection_refused');
    assert.match(String(refused?.reason), /no clientAuth EKU/);
  });

  it('carries out nothing a refused connection sent with its handshake: a moderator delete over an edge certificate without any extended key usage', async () => {
    assert.equal((await api.as('edge-us-east').post(path).set(ztHeaders(ALICE)).send({ score: 5 })).status, 201);
    const remove = { method: 'DELETE', path: ratingsPath('acme', 'i1', 'alice'), headers: ztHeaders(MODERATOR) };
    await rawRequest(api.port, await edgeLeaf('no-eku-delete', ''), remove).then(
      () => undefined,
      () => undefined,
    );
    // The connection was refused, so the request it carried must not have run, answered or not.
    assert.deepEqual((await api.store.aggregate({ tenant: 'acme', item: 'i1' })).count, 1);
  });

  it('negotiates TLS 1.2 or later and presents the rating-api identity', async () => {
    const pem = await pki.tls('edge-us-east');
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: api.port, servername: 'rating-api', ...pem }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      assert.match(socket.getProtocol() ?? '', /^TLSv1\.[23]$/);
      assert.ok((socket.getPeerCertificate().subjectaltname ?? '').split(', ').includes(`URI:${pki.spiffeId('rating-api')}`));
    } finally {
      socket.destroy();
    }
  });

  it('refuses a renegotiation, so a connection\'s peer identity never changes', async () => {
    const pem = await pki.tls('edge-us-east');
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: api.port, servername: 'rating-api', ...pem, maxVersion: 'TLSv1.2' }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      const outcome = await new Promise<Error | null>((resolve) => {
        socket.once('error', resolve);
        socket.once('close', () => resolve(new Error('closed')));
        socket.renegotiate({}, (err) => resolve(err ?? null));
        // The renegotiation handshake goes out with the next record.
        socket.write('GET /healthz HTTP/1.1\r\nhost: rating-api\r\n\r\n');
      });
      assert.ok(outcome instanceof Error, 'the server did not go through with a renegotiation');
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
    const elsewhere = await startApi(pki, new RecordingStore(), { ZT_TRUST_DOMAIN: 'other.local' });
    try {
      const res = await elsewhere.as('edge-us-east').post(path).set(ztHeaders(ALICE)).send({ score: 5 });
      assert.equal(res.status, 403);
      assert.equal(bodyOf(errorBody, res).error, 'untrusted_peer');
      assert.equal(await (elsewhere.store as RecordingStore).itemsStored(), 0);
    } finally {
      await elsewhere.close();
    }
  });
});
