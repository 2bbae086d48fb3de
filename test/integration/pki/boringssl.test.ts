import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { withPkiLock } from '../../../src/pki/lock.js';
import { renewIntermediateNow } from '../../../src/pki/authority.js';
import { rotate } from '../../../src/pki/rotate.js';
import { freePort } from '../../../src/shared/listen.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { ROGUE_SANS, rogueLeaf } from '../../helpers/rogue-leaf.js';
import { envoyBin } from '../../helpers/sandboxed-envoy.js';
import { waitFor } from '../../helpers/wait-for.js';

/**
 * Envoy verifies with BoringSSL, Node and Redis with OpenSSL; a certificate must pass both. Envoy
 * runs a probe config here (not the shipped one): a downstream listener that requires a client
 * certificate chaining to ca/bundle.crt, and a plain listener whose route goes to a TLS upstream
 * (a Node server presenting the certificate under test) verified against the same bundle, one
 * handshake per request. Each certificate is thus verified by BoringSSL as a client and as a server.
 */
describe('PKI certificates, checked by Envoy (BoringSSL)', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let envoy: ChildProcess;
  let output = '';
  let ports: { tls: number; plain: number; admin: number };
  let upstream: Server;

  before(async function () {
    pki = await givenPki();
    upstream = createHttpsServer({ ...(await pki.tls('authz')) }, (_req, res) => res.end('upstream'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    ports = { tls: await freePort(), plain: await freePort(), admin: await freePort() };
    const config = join(pki.dir, 'probe-envoy.json');
    await writeFile(config, JSON.stringify(probeConfig(pki, ports, (upstream.address() as AddressInfo).port)));
    envoy = spawn(envoyBin(), ['-c', config, '--disable-hot-restart', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    envoy.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    envoy.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor('Envoy LIVE', async () => ((await adminGet('/ready').catch(() => '')).trim() === 'LIVE' ? true : undefined), 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`, { cause: err });
    });
  });

  after(async function () {
    if (envoy && envoy.exitCode === null) {
      envoy.kill('SIGTERM');
      await once(envoy, 'exit');
    }
    upstream?.close();
    await pki?.cleanup();
  });

  function adminGet(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: ports.admin, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function stat(name: string): Promise<number> {
    const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(await adminGet('/stats'));
    assert.ok(m, `no stat ${name}`);
    return Number(m[1]);
  }

  /** Envoy's verdict on `cert` (a PEM chain) presented as a client certificate: the status, or the TLS error. */
  function asClient(cert: string, key: string, ca: string): Promise<string> {
    return new Promise((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: ports.tls, path: '/', cert, key, ca, servername: 'localhost', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', (err) => resolve(`refused: ${err.message}`));
      req.end();
    });
  }

  /** Envoy's verdict on `cert` presented by its upstream: 200 when Envoy verified it, 503 when not. */
  function asServer(cert: string, key: string): Promise<string> {
    upstream.setSecureContext({ cert, key });
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: ports.plain, path: '/' }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function assertEveryLeafAccepted(): Promise<void> {
    const { ca } = await pki.tls('authz');
    for (const name of pki.spec.workloads.keys()) {
      const { cert, key } = await pki.tls(name);
      assert.equal(await asClient(cert, key, ca), '200', `${name} as a client certificate`);
      if (pki.spec.workloads.get(name)?.kind !== 'client') assert.equal(await asServer(cert, key), '200', `${name} as a server certificate`);
    }
  }

  it('verifies every leaf that pki init writes, as a client and as a server certificate', async function () {
    await assertEveryLeafAccepted();
    assert.equal(await stat('listener.127.0.0.1_' + ports.tls + '.ssl.fail_verify_error'), 0);
    assert.equal(await stat('cluster.probe.ssl.fail_verify_error'), 0);
  });

  it('verifies every leaf that rotate --force and a renewed intermediate write', async function () {
    await withPkiLock(pki.layout, () => rotate(pki.layout, pki.spec, { force: true }), { wait: true });
    await withPkiLock(pki.layout, () => renewIntermediateNow(pki.layout, pki.spec), { wait: true });
    await assertEveryLeafAccepted();
    assert.equal(await stat('cluster.probe.ssl.fail_verify_error'), 0);
  });

  it('refuses each leaf outside the name constraints, as a client and as a server certificate', async function () {
    const ca = await readFile(pki.layout.bundle, 'utf8');
    for (const [name, san] of Object.entries(ROGUE_SANS)) {
      const chainFile = await rogueLeaf(pki, name, san);
      const [cert, key] = await Promise.all([readFile(chainFile, 'utf8'), readFile(chainFile.replace(/\.chain\.pem$/, '.key'), 'utf8')]);
      const listenerBefore = await stat(`listener.127.0.0.1_${ports.tls}.ssl.fail_verify_error`);
      const clusterBefore = await stat('cluster.probe.ssl.fail_verify_error');
      assert.match(await asClient(cert, key, ca), /^refused: /, `${name} as a client certificate`);
      assert.equal(await asServer(cert, key), '503', `${name} as a server certificate`);
      assert.equal(await stat(`listener.127.0.0.1_${ports.tls}.ssl.fail_verify_error`), listenerBefore + 1, `${name}: Envoy counted the client-side verify failure`);
      assert.equal(await stat('cluster.probe.ssl.fail_verify_error'), clusterBefore + 1, `${name}: Envoy counted the upstream verify failure`);
    }
  });
});

/** The probe: a client-cert listener, a plain listener routing to one TLS upstream, and the admin. */
function probeConfig(pki: TestPki, ports: { tls: number; plain: number; admin: number }, upstreamPort: number): unknown {
  const bundle = pki.layout.bundle;
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
  const hcm = (stat: string, route: unknown): unknown => ({
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: stat,
      route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, ...(route as object) }] }] },
      http_filters: [router],
    },
  });
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: ports.admin } } },
    static_resources: {
      listeners: [
        {
          name: 'client_cert',
          address: { socket_address: { address: '127.0.0.1', port_value: ports.tls } },
          filter_chains: [
            {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                  require_client_certificate: true,
                  common_tls_context: {
                    // The listener's own certificate: any leaf will do, it is not what is probed.
                    tls_certificates: [{ certificate_chain: { filename: pki.file('authz', 'cert.pem') }, private_key: { filename: pki.file('authz', 'key.pem') } }],
                    validation_context: { trusted_ca: { filename: bundle } },
                  },
                },
              },
              filters: [hcm('client_cert', { direct_response: { status: 200, body: { inline_string: 'verified' } } })],
            },
          ],
        },
        {
          name: 'plain',
          address: { socket_address: { address: '127.0.0.1', port_value: ports.plain } },
          filter_chains: [{ filters: [hcm('plain', { route: { cluster: 'probe' } })] }],
        },
      ],
      clusters: [
        {
          name: 'probe',
          type: 'STATIC',
          connect_timeout: '2s',
          load_assignment: { cluster_name: 'probe', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] }] },
          // A fresh handshake for every request, so each probe is verified anew.
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              common_http_protocol_options: { max_requests_per_connection: 1 },
              explicit_http_config: { http_protocol_options: {} },
            },
          },
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
              common_tls_context: { validation_context: { trusted_ca: { filename: bundle } } },
            },
          },
        },
      ],
    },
  };
}
