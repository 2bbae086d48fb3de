import assert from 'node:assert/strict';
import { connect as h2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { givenAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

/**
 * Stopping the service while edges hold their connections open between checks, as Envoy does: the
 * stop does not wait for the connections' idle timeout (65 s, past this suite's own timeout). An
 * HTTP/2 session is told GOAWAY; an idle HTTP/1.1 keep-alive connection is closed.
 */
describe('authz check: stopping while edges hold idle connections', () => {
  it('stops at once, with GOAWAY to an idle HTTP/2 session and an idle HTTP/1.1 keep-alive connection closed', async () => {
    const svc = await givenAuthz();
    const edge = await svc.pki.tls('edge-us-east');
    const session: ClientHttp2Session = h2Connect(`https://127.0.0.1:${svc.port}`, { servername: 'authz', ...edge });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ...edge });
    try {
      const h2Status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': READ });
        stream.on('response', (h) => {
          stream.resume();
          stream.on('end', () => resolve(Number(h[':status'])));
        });
        stream.on('error', reject);
        stream.end();
      });
      // In an object: a promise resolved with a promise would wait for it.
      const h1Closed = await new Promise<{ closed: Promise<void> }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: svc.port, servername: 'authz', path: READ, agent }, (res) => {
          const closed = new Promise<void>((done) => res.socket.once('close', () => done()));
          res.resume();
          res.on('end', () => resolve({ closed }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(h2Status, 403, 'an answer over h2 (no XFCC: no_client_cert)');
      const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
      await svc.close();
      await goaway;
      await h1Closed.closed;
    } finally {
      session.destroy();
      agent.destroy();
    }
  });
});
