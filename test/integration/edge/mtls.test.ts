import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { issueWorkload } from '../../../src/pki/authority.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { allow, created, givenEdge, givenRecordingServer, send, type RecordingServer, type RunningEdge } from './given-edge.js';

/** Codes a client sees when the server refuses its certificate during or right after the handshake. */
const REFUSED = /ECONNRESET|EPROTO|ERR_SSL|socket hang up|certificate|alert/i;

describe('dev edge: mTLS on both sides', () => {
  let pki: TestPki;
  let authz: RecordingServer;
  let rating: RecordingServer;
  let edge: RunningEdge;
  let alice: { cert: string; key: string; ca: string };

  before(async () => {
    pki = await givenPki();
    authz = await givenRecordingServer(pki, 'authz', allow);
    rating = await givenRecordingServer(pki, 'rating-api', created);
    edge = await givenEdge(pki, { authzUrl: authz.url, ratingUrl: rating.url });
    alice = await pki.tls('client-alice');
  });

  beforeEach(() => {
    authz.received.length = 0;
    rating.received.length = 0;
  });

  after(async () => {
    await edge.close();
    await Promise.all([authz.close(), rating.close()]);
    await pki.cleanup();
  });

  async function refused(tls: { cert?: string; key?: string; ca: string }): Promise<void> {
    await assert.rejects(send(edge.port, tls, { path: '/v1/tenants/acme/items/widget/ratings' }), (err: Error & { code?: string }) => {
      assert.match(`${err.code ?? ''} ${err.message}`, REFUSED);
      return true;
    });
    assert.equal(authz.received.length, 0, 'nothing reached authz');
    assert.equal(rating.received.length, 0, 'nothing reached the upstream');
  }

  it('serves a client certificate from the internal CA', async () => {
    const res = await send(edge.port, alice, { method: 'POST', path: '/v1/tenants/acme/items/widget/ratings', body: '{}' });
    assert.equal(res.status, 201);
  });

  it('refuses a client that presents no certificate', async () => {
    await refused({ ca: alice.ca });
  });

  it('refuses a client certificate from a foreign CA', async () => {
    const foreign = await givenPki({ trustDomain: 'evil.local' });
    try {
      const mallory = await foreign.tls('client-alice');
      await refused({ cert: mallory.cert, key: mallory.key, ca: alice.ca });
    } finally {
      await foreign.cleanup();
    }
  });

  it('refuses a certificate from the internal CA that is not a client identity, as the SAN matcher does', async () => {
    const other = await pki.tls('edge-eu-central');
    await refused({ cert: other.cert, key: other.key, ca: alice.ca });
  });

  it('refuses TLS 1.1', async () => {
    const socket = connect({ host: '127.0.0.1', port: edge.port, ...alice, maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const err = await new Promise<Error>((resolve) => socket.once('error', resolve));
    socket.destroy();
    assert.match(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`, /ERR_SSL|EPROTO|protocol|version/i);
  });

  it('answers 503 and forwards nothing when the upstream presents a SPIFFE ID other than the rating API', async () => {
    const impostor = await givenRecordingServer(pki, 'authz', created);
    const other = await givenEdge(pki, { authzUrl: authz.url, ratingUrl: impostor.url });
    try {
      const res = await send(other.port, alice, { method: 'POST', path: '/v1/tenants/acme/items/widget/ratings', body: '{"score":5}' });
      assert.equal(res.status, 503);
      assert.match(res.body, /upstream connect error/);
      assert.equal(impostor.received.length, 0, 'the request never reached the impostor');
      assert.equal(authz.received.length, 1, 'authz allowed it first');
    } finally {
      await other.close();
      await impostor.close();
    }
  });

  it('presents a rotated certificate on new connections to clients, authz and the upstream without restarting', async () => {
    const before = serialOf(await handshake(edge.port, alice));
    // A keep-alive agent holds a connection across the rotation, as a busy client would.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ...alice });
    try {
      assert.equal((await send(edge.port, alice, { path: '/v1/a', agent })).status, 201);
      const oldUpstreamSerial = rating.received.at(-1)?.peerSerial;

      const info = await issueWorkload(pki.layout, pki.spec, 'edge-us-east');
      await edge.config.tls.reload();
      const after = serialOf(await handshake(edge.port, alice));
      assert.notEqual(after, before);
      assert.equal(after, info.serial.toUpperCase().padStart(after.length, '0'));

      assert.equal((await send(edge.port, alice, { path: '/v1/b', agent })).status, 201, 'the old connection still works');
      const seen = rating.received.at(-1);
      assert.equal(authz.received.at(-1)?.peerSerial, after, 'authz sees the new edge certificate');
      assert.equal(seen?.peerSerial, after, 'the upstream sees the new edge certificate');
      assert.notEqual(seen?.peerSerial, oldUpstreamSerial);
    } finally {
      agent.destroy();
    }
  });
});

function handshake(port: number, tls: { cert: string; key: string; ca: string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...tls, servername: 'localhost' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function serialOf(socket: TLSSocket): string {
  const cert = socket.getPeerX509Certificate();
  socket.destroy();
  assert.ok(cert instanceof X509Certificate);
  return cert.serialNumber;
}
