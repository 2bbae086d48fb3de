import assert from 'node:assert/strict';
import { connect as h2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { runScript } from '../../helpers/run-script.js';
import { ALICE, givenAuthz, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** The serial a brand-new handshake sees, offering `alpn` (h2 is what Envoy's authz cluster offers). */
function handshakeSerial(port: number, tls: { cert: string; key: string; ca: string }, alpn = ['http/1.1']): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'authz', ALPNProtocols: alpn, ...tls }, () => {
      const serial = normalSerial(socket.getPeerCertificate().serialNumber);
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/** One check on an HTTP/2 session: its status. */
function getH2(session: ClientHttp2Session, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': READ, ...headers });
    stream.on('response', (h) => {
      stream.resume();
      stream.on('end', () => resolve(Number(h[':status'])));
    });
    stream.on('error', reject);
    stream.end();
  });
}

/**
 * `rotate-certs --force` against the test PKI while the service runs: new handshakes get the new
 * certificate without a restart, whether they pick HTTP/1.1 or h2, and a keep-alive connection or
 * an HTTP/2 session opened before keeps working.
 */
describe('authz check: certificate rotation without a restart', () => {
  let svc: RunningAuthz;

  before(async () => {
    svc = await givenAuthz();
  });

  after(async () => {
    await svc.close();
  });

  it('serves the new certificate to new handshakes (HTTP/1.1 and h2) while an existing keep-alive connection and HTTP/2 session carry on', async function () {
    this.timeout(90_000); // rotate-certs runs as a child process through tsx
    const edgeBefore = await svc.pki.tls('edge-us-east');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ...edgeBefore });
    const token = await tokenFor(svc.pki, ALICE);
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfccFor(svc.pki, 'client-alice') };
    const get = (): Promise<{ status: number; socket: TLSSocket }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: svc.port, servername: 'authz', path: READ, headers, agent }, (res) => {
          // Taken now: the agent detaches the socket from the response at its end.
          const socket = res.socket as TLSSocket;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, socket }));
        });
        req.on('error', reject);
        req.end();
      });

    const session = h2Connect(`https://127.0.0.1:${svc.port}`, { servername: 'authz', ...edgeBefore });
    try {
      const first = await get();
      assert.equal(first.status, 200);
      assert.equal(await getH2(session, headers), 200);
      const h2Socket = session.socket as TLSSocket;
      assert.equal(h2Socket.alpnProtocol, 'h2');
      const oldSerial = normalSerial(first.socket.getPeerCertificate().serialNumber);
      assert.equal(oldSerial, svc.deps.tls.material.serial);

      const rotated = await runScript('rotate-certs', ['--force', '--dir', svc.pki.dir, '--config', svc.pki.configFile]);
      assert.equal(rotated.code, 0, rotated.stderr);
      const summary = JSON.parse(rotated.stdout.trim().split('\n').at(-1) ?? '{}') as { leaves: Array<{ workload: string; serial: string; action: string }> };
      const authzLeaf = summary.leaves.find((l) => l.workload === 'authz');
      assert.equal(authzLeaf?.action, 'renewed');
      const newSerial = authzLeaf?.serial ?? '';
      assert.notEqual(newSerial, oldSerial);

      const edgeAfter = await svc.pki.tls('edge-us-east');
      const deadline = Date.now() + 15_000;
      let seen = await handshakeSerial(svc.port, edgeAfter);
      while (seen !== newSerial && Date.now() < deadline) {
        await sleep(50);
        seen = await handshakeSerial(svc.port, edgeAfter);
      }
      assert.equal(seen, newSerial, 'a new handshake sees the rotated certificate');
      assert.equal(await handshakeSerial(svc.port, edgeAfter, ['h2']), newSerial, 'so does a new h2 handshake');
      assert.equal(svc.deps.tls.material.serial, newSerial);

      const second = await get();
      assert.equal(second.status, 200, 'the old keep-alive connection still gets answers');
      assert.equal(second.socket, first.socket, 'on the very same connection');
      assert.equal(normalSerial(second.socket.getPeerCertificate().serialNumber), oldSerial);
      assert.equal(await getH2(session, headers), 200, 'the HTTP/2 session opened before still gets answers');
      assert.equal(normalSerial(h2Socket.getPeerCertificate().serialNumber), oldSerial, 'on its first connection');
      assert.ok(svc.logs.some((l) => l.msg === 'certificate rotated' && l.serial === newSerial));
    } finally {
      session.destroy();
      agent.destroy();
    }
  });
});
