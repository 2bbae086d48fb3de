import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { request } from 'node:https';
import { closeServer, listen } from '../../../src/shared/listen.js';
import { createMtlsServer } from '../../../src/shared/tls/mtls-server.js';
import { WorkloadTls } from '../../../src/shared/tls/workload-tls.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { rogueClient } from '../../helpers/rogue-leaf.js';

type Pem = { cert: string; key: string; ca: string };

/** One DELETE sent with the handshake over HTTP/1.1; settles however the connection ends. */
function h1Delete(port: number, pem: Pem): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, servername: 'localhost', method: 'DELETE', path: '/thing', agent: false, ...pem });
    req.on('response', (res) => res.resume().on('end', resolve));
    req.on('error', () => resolve());
    req.end();
  });
}

/** The same over HTTP/2: one stream opened as soon as the session exists. */
function h2Delete(port: number, pem: Pem): Promise<void> {
  return new Promise((resolve) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { servername: 'localhost', ALPNProtocols: ['h2'], ...pem });
    session.on('error', () => resolve());
    session.on('close', () => resolve());
    const stream = session.request({ ':method': 'DELETE', ':path': '/thing' });
    stream.on('error', () => undefined);
    stream.on('response', () => undefined);
    stream.resume();
    stream.on('close', () => {
      session.close();
      resolve();
    });
    stream.end();
  });
}

/**
 * The shared mTLS listener drops a connection whose client certificate has no extended key usage
 * (OpenSSL takes that for "any use"). A client sends its first request along with the end of its
 * handshake, so the check must run before the HTTP layer reads anything: a request that arrived on
 * a refused connection must never reach the handler (a moderator's DELETE on the rating API did).
 */
describe('the shared mTLS listener: nothing a refused connection sent runs', () => {
  let pki: TestPki;
  let tls: WorkloadTls;
  let noEku: Pem;
  let alice: Pem;

  before(async () => {
    pki = await givenPki();
    tls = await WorkloadTls.load(pki.dir, 'authz');
    noEku = await rogueClient(pki, 'no-eku-listener', null);
    alice = await pki.tls('client-alice');
  });
  after(async () => {
    tls.close();
    await pki.cleanup();
  });

  for (const http2 of [false, true]) {
    for (const protocol of http2 ? (['h2', 'http/1.1'] as const) : (['http/1.1'] as const)) {
      it(`${http2 ? 'h2 listener' : 'HTTP/1.1 listener'}, ${protocol} client: the request never reaches the handler, and a client certificate's request does`, async () => {
        const handled: string[] = [];
        const refused: string[] = [];
        const handler = (req: { method?: string }, res: { end(body: string): void }): void => {
          handled.push(req.method ?? '');
          res.end('done');
        };
        const options = { trustDomain: pki.spec.trustDomain, onRefused: (why: string) => refused.push(why) };
        const server = http2 ? createMtlsServer(tls, handler, { ...options, http2: true }) : createMtlsServer(tls, handler, options);
        const port = await listen(server, { host: '127.0.0.1', port: 0 });
        const send = protocol === 'h2' ? h2Delete : h1Delete;
        try {
          for (let i = 0; i < 5; i++) await send(port, noEku);
          assert.equal(refused.length, 5, 'each connection was refused');
          assert.deepEqual(handled, [], 'and none of their requests ran');
          await send(port, alice);
          assert.deepEqual(handled, ['DELETE'], 'a client certificate with clientAuth is served');
        } finally {
          await closeServer(server, 0);
        }
      });
    }
  }
});
