import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { issueWorkload } from '../../../src/pki/authority.js';
import { EDGE_KINDS, type ClientTls, type EdgeKind, type EdgeUnderTest } from '../../helpers/edge-under-test.js';
import { givenPki } from '../../helpers/given-pki.js';
import { useEdgeFixture, verifyFailures } from './given-edge.js';

const RATINGS = '/v1/tenants/acme/items/widget/ratings';

/** What a client sees when the edge refuses its certificate chain (or its lack of one) in the handshake. */
const REFUSED_IN_HANDSHAKE = /ERR_SSL|EPROTO|ECONNRESET|socket hang up|alert/i;

/**
 * How each edge refuses a certificate that verifies but is not a client identity, which is one
 * difference between them that stays: Envoy's listener runs its SAN matcher inside the handshake and
 * sends alert 46 (certificate_unknown); Node has no hook for that, so the dev edge completes the
 * handshake and closes the connection before it reads a request. Either way nothing is served.
 */
const NON_CLIENT_REFUSAL: Readonly<Record<EdgeKind, RegExp>> = {
  envoy: /ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN/,
  dev: /ECONNRESET|socket hang up/,
};

/** The client side of the edge (who may connect) and the edge's own identity towards both upstreams. */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: mTLS on both sides`, () => {
    const fixture = useEdgeFixture(kind);
    let alice: ClientTls;

    before(async () => {
      alice = await fixture().pki.tls('client-alice');
    });

    beforeEach(() => {
      fixture().authz.received.length = 0;
      fixture().rating.received.length = 0;
    });

    async function refused(tls: ClientTls, expected: RegExp): Promise<void> {
      const { edge, authz, rating } = fixture();
      await assert.rejects(edge.send(tls, { path: RATINGS }), (err: Error & { code?: string }) => {
        assert.match(`${err.code ?? ''} ${err.message}`, expected);
        return true;
      });
      assert.equal(authz.received.length, 0, 'nothing reached authz');
      assert.equal(rating.received.length, 0, 'nothing reached the upstream');
    }

    async function listenerSanFailures(edge: EdgeUnderTest): Promise<number> {
      const stats = await edge.stats();
      return [...stats].filter(([name]) => name.startsWith('listener.') && name.endsWith('.ssl.fail_verify_san')).reduce((sum, [, n]) => sum + n, 0);
    }

    it('serves a client certificate from the internal CA', async () => {
      const res = await fixture().edge.send(alice, { method: 'POST', path: RATINGS, body: '{}' });
      assert.equal(res.status, 201);
    });

    it('refuses a client that presents no certificate', async () => {
      await refused({ ca: alice.ca }, REFUSED_IN_HANDSHAKE);
    });

    it('refuses a client certificate from a foreign CA', async () => {
      const foreign = await givenPki({ trustDomain: 'evil.local' });
      try {
        const mallory = await foreign.tls('client-alice');
        await refused({ cert: mallory.cert, key: mallory.key, ca: alice.ca }, REFUSED_IN_HANDSHAKE);
      } finally {
        await foreign.cleanup();
      }
    });

    it("refuses the rating API's own certificate presented as a client, as the listener's SAN matcher does", async () => {
      const before = await listenerSanFailures(fixture().edge);
      const { cert, key } = await fixture().pki.tls('rating-api');
      await refused({ cert, key, ca: alice.ca }, NON_CLIENT_REFUSAL[kind]);
      assert.equal(await listenerSanFailures(fixture().edge), before + 1, 'counted as a SAN mismatch');
    });

    it("refuses an edge's certificate presented as a client", async () => {
      const before = await listenerSanFailures(fixture().edge);
      const { cert, key } = await fixture().pki.tls('edge-eu-central');
      await refused({ cert, key, ca: alice.ca }, NON_CLIENT_REFUSAL[kind]);
      assert.equal(await listenerSanFailures(fixture().edge), before + 1, 'counted as a SAN mismatch');
    });

    it('refuses TLS 1.1 with the server\'s protocol_version alert', async () => {
      // The client is willing to speak TLS 1.1 (SECLEVEL=0), so the refusal can only be the server's.
      const socket = connect({ ...fixture().edge.tlsOptions(alice), maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
      const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      socket.destroy();
      assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', err.message);
    });

    it('presents its own certificate to authz and to the upstream', async () => {
      const res = await fixture().edge.send(alice, { path: RATINGS });
      assert.equal(res.status, 201);
      const self = fixture().pki.spiffeId('edge-us-east');
      assert.deepEqual(fixture().authz.received[0]?.peerUris, [self]);
      assert.deepEqual(fixture().rating.received[0]?.peerUris, [self]);
    });

    it('presents a rotated certificate on new connections to clients, authz and the upstream without restarting', async () => {
      const { edge, authz, rating, pki } = fixture();
      // A keep-alive agent holds a connection across the rotation, as a busy client would.
      const agent = new Agent({ keepAlive: true, maxSockets: 1, ...alice });
      try {
        assert.equal((await edge.send(alice, { path: '/v1/a', agent })).status, 201);
        const oldSerial = rating.received.at(-1)?.peerSerial;

        const info = await issueWorkload(pki.layout, pki.spec, 'edge-us-east');
        const serial = info.serial.toUpperCase().padStart(oldSerial?.length ?? 0, '0');
        assert.notEqual(serial, oldSerial);
        // The upstreams close their idle connections, so the next request needs new handshakes.
        authz.dropIdleConnections();
        rating.dropIdleConnections();
        await edge.servesCertificate(serial, alice);

        assert.equal((await edge.send(alice, { path: '/v1/b', agent })).status, 201, 'the old client connection still works');
        assert.equal(authz.received.at(-1)?.peerSerial, serial, 'authz sees the new edge certificate');
        assert.equal(rating.received.at(-1)?.peerSerial, serial, 'the upstream sees the new edge certificate');
      } finally {
        agent.destroy();
      }
    });

    it('ends the suite with no failed certificate verification on either upstream cluster', async () => {
      assert.deepEqual(await verifyFailures(fixture().edge), { authz: { chain: 0, san: 0 }, rating_api: { chain: 0, san: 0 } });
    });
  });
}
