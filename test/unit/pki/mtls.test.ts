import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';

interface Handshake {
  readonly serverSawClient: string | undefined;
  readonly clientSawServer: string | undefined;
}

function spiffeOf(cert: tls.PeerCertificate | undefined): string | undefined {
  return cert?.subjectaltname
    ?.split(', ')
    .find((n) => n.startsWith('URI:spiffe://'))
    ?.slice('URI:'.length);
}

/** Starts a TLS server that requires a client certificate, connects once, and reports both views. */
async function handshake(server: tls.SecureContextOptions, client: tls.SecureContextOptions): Promise<Handshake> {
  let serverSawClient: string | undefined;
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    serverSawClient = spiffeOf(socket.getPeerCertificate());
    socket.end('ok');
  });
  const serverErrors: Error[] = [];
  srv.on('tlsClientError', (err) => serverErrors.push(err));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    const clientSawServer = await new Promise<string | undefined>((resolve, reject) => {
      const socket = tls.connect({ ...client, host: '127.0.0.1', port, servername: 'localhost' }, () => {
        const peer = spiffeOf(socket.getPeerCertificate());
        socket.on('data', () => {
          socket.end();
          resolve(peer);
        });
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed before any data; server errors: ${serverErrors.map((e) => e.message).join('; ')}`)));
    });
    return { serverSawClient, clientSawServer };
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

/** Why a server that trusts `server.ca` would refuse `client`'s certificate (OpenSSL's verify code). */
async function clientCertError(server: tls.SecureContextOptions, client: tls.SecureContextOptions): Promise<string | undefined> {
  let reason: string | undefined;
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: false }, (socket) => {
    reason = socket.authorized ? undefined : String(socket.authorizationError);
    socket.end('ok');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = tls.connect({ ...client, host: '127.0.0.1', port, servername: 'localhost' });
      socket.on('data', () => socket.end());
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    return reason;
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

describe('mTLS with the generated certificates', function () {
  let pki: TestPki;
  let foreign: TestPki;
  let expired: TestPki;

  before(async function () {
    this.timeout(60_000);
    [pki, foreign, expired] = await Promise.all([
      givenPki(),
      givenPki({ trustDomain: 'evil.local' }),
      // Issued 25 h ago with the 24 h TTL: expired an hour ago, by the same kind of CA.
      givenPki({ now: new Date(Date.now() - 25 * 3600_000) }),
    ]);
  });
  after(async () => Promise.all([pki.cleanup(), foreign.cleanup(), expired.cleanup()]));

  it('completes a handshake in which each side sees the other SPIFFE ID', async function () {
    const server = await pki.tls('authz');
    const client = await pki.tls('client-alice');
    const seen = await handshake(server, client);
    assert.equal(seen.serverSawClient, 'spiffe://zt.local/us-east/client/alice');
    assert.equal(seen.clientSawServer, 'spiffe://zt.local/global/svc/authz');
  });

  it('refuses a client certificate from a foreign CA', async function () {
    const server = await pki.tls('authz');
    const { cert, key } = await foreign.tls('client-alice');
    await assert.rejects(handshake(server, { cert, key, ca: server.ca }), /closed before any data/);
    assert.equal(await clientCertError(server, { cert, key, ca: server.ca }), 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
  });

  it('refuses an expired client certificate from the same CA', async function () {
    const server = await expired.tls('authz').then(async () => {
      // The server must trust the expired PKI's root, so it uses a fresh leaf issued under it.
      const { issueWorkload } = await import('../../../src/pki/authority.js');
      await issueWorkload(expired.layout, expired.spec, 'authz');
      return expired.tls('authz');
    });
    const client = await expired.tls('client-alice');
    await assert.rejects(handshake(server, client), /closed before any data/);
    assert.equal(await clientCertError(server, client), 'CERT_HAS_EXPIRED');
  });

  it('makes a client refuse a server whose certificate is from a foreign CA', async function () {
    const server = await foreign.tls('authz');
    const client = await pki.tls('client-alice');
    await assert.rejects(handshake(server, client), /self-signed|unable to verify|certificate/i);
  });
});
