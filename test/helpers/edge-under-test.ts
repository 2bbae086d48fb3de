/**
 * One edge under test, of either kind, behind one interface, so that a suite runs the same
 * assertions through both:
 * - `dev`: the dev edge (src/edge), started in this process as main starts it, on loopback port 0;
 * - `envoy`: the real Envoy running envoy/envoy.yaml byte for byte (scripts/envoy-sandbox.sh) in a
 *   network namespace of its own, listening on <host ip>:8443.
 * The upstreams an edge sends to are the test's: Envoy's config names `authz:9443` and
 * `rating-api:7443`, so for Envoy they must listen on the site's bridge at those ports; the dev edge
 * takes any URL. A site (one test network for Envoy) holds one edge per region.
 */
import { once } from 'node:events';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request, type Agent } from 'node:https';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { buildApp } from '../../src/edge/app.js';
import { loadConfig } from '../../src/edge/config.js';
import { createDeps } from '../../src/edge/create-deps.js';
import type { ListenAddress } from '../../src/shared/listen.js';
import { createLogger } from '../../src/shared/logger.js';
import { startService } from '../../src/shared/service.js';
import { edgeRegions } from '../../src/shared/topology.js';
import type { WorkloadTls } from '../../src/shared/tls/workload-tls.js';
import type { TestPki } from './given-pki.js';
import { envoyUnavailable, ENVOY_LISTENER_PORT, startSandboxedEnvoy } from './sandboxed-envoy.js';
import { createTestNetwork, networkUnavailable } from './test-network.js';
import { waitFor } from './wait-for.js';

export const EDGE_KINDS = ['dev', 'envoy'] as const;
export type EdgeKind = (typeof EDGE_KINDS)[number];
/** A region that has an edge in the test PKI's topology (`edgeRegions(pki.spec)`). */
export type EdgeRegion = string;

/** The shipped Envoy config: the dev edge reads it, Envoy runs it. */
export const ENVOY_YAML = resolve(import.meta.dirname, '../../envoy/envoy.yaml');

/** Where envoy.yaml sends ext_authz checks and routed requests (its clusters' ports). */
const ENVOY_UPSTREAM_PORTS = { authz: 9443, rating: 7443 } as const;

/** PEM material for a client connection. */
export interface ClientTls {
  readonly cert?: string;
  readonly key?: string;
  readonly ca: string;
}

/** A response as a test sees it. */
export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface SendOptions {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A body, or a function that writes it (and ends the request). */
  readonly body?: string | ((req: ClientRequest) => void);
  readonly agent?: Agent;
}

/** An access log line, normalised: what either edge left out is null. */
export type AccessLine = Readonly<Record<string, unknown>>;

/** Where a client reaches an edge. Certificates carry DNS SANs only, so the server name matters. */
export interface EdgeAddress {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
}

export interface EdgeUnderTest {
  readonly kind: EdgeKind;
  readonly region: EdgeRegion;
  readonly address: EdgeAddress;
  /** The address the edge sees this process's connections come from. */
  readonly clientAddress: string;
  /** Its access log lines as printed (JSON), for the test about the log's own format. */
  rawAccessLines(): Record<string, unknown>[];
  /** Its access log lines, normalised. */
  accessLines(): AccessLine[];
  /**
   * The access line of a request (by request id or predicate), once written: the dev edge writes it
   * when the response closes, Envoy flushes its log about once a second.
   */
  accessLine(match: string | ((line: AccessLine) => boolean)): Promise<AccessLine>;
  /** Sends one request over mTLS, presenting `tls`. */
  send(tls: ClientTls, options: SendOptions): Promise<Reply>;
  /** TLS options that reach the edge, for handshake-level tests. */
  tlsOptions(tls: ClientTls): ConnectionOptions;
  /** Its counters by Envoy stat name (`/stats` on either edge's admin). */
  stats(): Promise<ReadonlyMap<string, number>>;
  /** Resolves once a new handshake by `client` sees the certificate with `serial` (after a rotation on disk). */
  servesCertificate(serial: string, client: ClientTls): Promise<void>;
  close(): Promise<void>;
}

export interface EdgeSite {
  readonly kind: EdgeKind;
  /** Where this site's authz and rating API must listen for its edges to reach them. */
  readonly upstreams: { readonly authz: ListenAddress; readonly rating: ListenAddress };
  /** Starts the edge of `region` in front of the upstreams at these URLs. */
  edge(region: EdgeRegion, upstreams: { readonly authzUrl: string; readonly ratingUrl: string }): Promise<EdgeUnderTest>;
  /** Stops its edges and removes its network. */
  close(): Promise<void>;
}

/** Why edges of `kind` cannot run here, or undefined when they can. */
export function edgeKindUnavailable(kind: EdgeKind): string | undefined {
  return kind === 'dev' ? undefined : (networkUnavailable() ?? envoyUnavailable());
}

export interface EdgeSiteOptions {
  /**
   * An Envoy config both kinds run instead of envoy/envoy.yaml (the dev edge reads it, Envoy runs
   * it), for the few tests about what a config without a given line does.
   */
  readonly envoyConfig?: string;
}

/** A site for edges of `kind` whose certificates come from `pki`. */
export async function givenEdgeSite(kind: EdgeKind, pki: TestPki, options: EdgeSiteOptions = {}): Promise<EdgeSite> {
  return kind === 'dev' ? devSite(pki, options) : envoySite(pki, options);
}

/**
 * Envoy prints a value it does not have as null, and as `-` for some (response_flags, and any
 * %REQ(...)% it could not find): here both read as null, in one place, for both edges.
 */
export function normaliseAccessLine(raw: Record<string, unknown>): AccessLine {
  return Object.freeze(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v === '-' ? null : v])));
}

function devSite(pki: TestPki, options: EdgeSiteOptions): EdgeSite {
  const edges: EdgeUnderTest[] = [];
  const loopback = { host: '127.0.0.1', port: 0 };
  return {
    kind: 'dev',
    upstreams: { authz: loopback, rating: loopback },
    async edge(region, upstreams) {
      const e = await startDevEdge(pki, region, upstreams, options.envoyConfig ?? ENVOY_YAML);
      edges.push(e);
      return e;
    },
    async close() {
      await Promise.all(edges.map((e) => e.close()));
    },
  };
}

/** Starts the dev edge as its main does (`startService` over loadConfig, createDeps and buildApp), from an env, on port 0. */
async function startDevEdge(pki: TestPki, region: EdgeRegion, upstreams: { authzUrl: string; ratingUrl: string }, envoyConfig: string): Promise<EdgeUnderTest> {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let tls: WorkloadTls | undefined;
  const edge = await startService(
    {
      name: 'edge',
      loadConfig,
      async createDeps(config) {
        const deps = await createDeps(config, { logger: createLogger('edge', { level: 'debug', bindings: { region: config.region }, destination }) });
        tls = deps.tls;
        return deps;
      },
      buildApp,
    },
    {
      ZT_PKI_DIR: pki.dir,
      ZT_PKI_CONFIG: pki.configFile,
      EDGE_REGION: region,
      EDGE_LISTEN: '127.0.0.1:0',
      EDGE_ADMIN_LISTEN: '127.0.0.1:0',
      ENVOY_CONFIG: envoyConfig,
      AUTHZ_URL: upstreams.authzUrl,
      RATING_URL: upstreams.ratingUrl,
      LOG_LEVEL: 'debug',
    },
  );
  const { port, admin_port: adminPort } = edge.ports;
  if (port === undefined || adminPort === undefined) throw new Error(`the dev edge did not report both listeners: ${JSON.stringify(edge.ports)}`);
  return edgeUnderTest({
    kind: 'dev',
    region,
    address: { host: '127.0.0.1', port, servername: 'localhost' },
    clientAddress: '127.0.0.1',
    rawAccessLines: () => lines.filter((l) => l.msg === 'access'),
    statsText: async () => (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text(),
    // The edge watches the PKI directory; re-reading now spares the test the wait for the watch.
    reload: () => tls?.reload() ?? Promise.resolve(),
    recentOutput: () => JSON.stringify(lines.slice(-20)),
    close: () => edge.stop(),
  });
}

async function envoySite(pki: TestPki, options: EdgeSiteOptions): Promise<EdgeSite> {
  const net = await createTestNetwork(edgeRegions(pki.spec));
  const edges: EdgeUnderTest[] = [];
  const upstreams = {
    authz: { host: net.bridgeIp, port: ENVOY_UPSTREAM_PORTS.authz },
    rating: { host: net.bridgeIp, port: ENVOY_UPSTREAM_PORTS.rating },
  };
  return {
    kind: 'envoy',
    upstreams,
    async edge(region, urls) {
      // envoy.yaml names its upstreams itself; a test that means to point it elsewhere is wrong.
      for (const [url, at] of [[urls.authzUrl, upstreams.authz], [urls.ratingUrl, upstreams.rating]] as const) {
        if (url !== `https://${at.host}:${at.port}`) throw new Error(`Envoy sends to ${at.host}:${at.port} (envoy.yaml), not to ${url}`);
      }
      const host = net.host(region);
      const envoy = await startSandboxedEnvoy({
        host,
        edgePki: join(pki.dir, `edge-${region}`),
        hosts: { authz: net.bridgeIp, 'rating-api': net.bridgeIp },
        ...(options.envoyConfig === undefined ? {} : { config: options.envoyConfig }),
      });
      const e = edgeUnderTest({
        kind: 'envoy',
        region,
        address: { host: host.ip, port: ENVOY_LISTENER_PORT, servername: 'localhost' },
        clientAddress: net.bridgeIp,
        rawAccessLines: () =>
          envoy.lines
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>)
            .filter((l) => l.msg === 'access'),
        statsText: () => envoy.admin('/stats'),
        // SDS watches the directory; nothing to do but wait for the new handshakes.
        reload: () => Promise.resolve(),
        recentOutput: () => envoy.lines.slice(-20).join('\n'),
        close: () => envoy.stop(),
      });
      edges.push(e);
      return e;
    },
    async close() {
      await Promise.all(edges.map((e) => e.close()));
      await net.close();
    },
  };
}

interface EdgeParts {
  readonly kind: EdgeKind;
  readonly region: EdgeRegion;
  readonly address: EdgeAddress;
  readonly clientAddress: string;
  rawAccessLines(): Record<string, unknown>[];
  statsText(): Promise<string>;
  reload(): Promise<void>;
  /** The edge's last output, for failure messages. */
  recentOutput(): string;
  close(): Promise<void>;
}

function edgeUnderTest(parts: EdgeParts): EdgeUnderTest {
  const { address } = parts;
  let closed: Promise<void> | undefined;
  const tlsOptions = (tls: ClientTls): ConnectionOptions => ({ host: address.host, port: address.port, servername: address.servername, ...tls });
  const accessLines = (): AccessLine[] => parts.rawAccessLines().map(normaliseAccessLine);
  return {
    kind: parts.kind,
    region: parts.region,
    address,
    clientAddress: parts.clientAddress,
    rawAccessLines: () => parts.rawAccessLines(),
    accessLines,
    async accessLine(match) {
      const test = typeof match === 'string' ? (l: AccessLine) => l.request_id === match : match;
      try {
        return await waitFor(`an access log line matching ${String(match)}`, () => accessLines().find(test), 10_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}; the ${parts.kind} edge printed:\n${parts.recentOutput()}`, { cause: err });
      }
    },
    async send(tls, options) {
      const req = request({ ...tlsOptions(tls), method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: options.agent ?? false });
      const responded = once(req, 'response') as Promise<[IncomingMessage]>;
      if (typeof options.body === 'function') options.body(req);
      else req.end(options.body);
      const [res] = await responded;
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
    },
    tlsOptions,
    async stats() {
      const out = new Map<string, number>();
      for (const line of (await parts.statsText()).split('\n')) {
        const m = /^([^:]+): (\d+)$/.exec(line);
        if (m) out.set(m[1] ?? '', Number(m[2]));
      }
      return out;
    },
    async servesCertificate(serial, client) {
      await parts.reload();
      await waitFor(`the ${parts.kind} edge to serve certificate ${serial}`, async () => ((await servedSerial(tlsOptions(client))) === serial ? true : undefined), 15_000);
    },
    close() {
      closed ??= parts.close();
      return closed;
    },
  };
}

/** The serial of the certificate a new handshake sees, or undefined when the handshake fails. */
async function servedSerial(options: ConnectionOptions): Promise<string | undefined> {
  const socket: TLSSocket = connect(options);
  try {
    await Promise.race([once(socket, 'secureConnect'), once(socket, 'error').then(([e]) => Promise.reject(e as Error))]);
    return socket.getPeerX509Certificate()?.serialNumber;
  } catch {
    return undefined;
  } finally {
    socket.destroy();
  }
}
