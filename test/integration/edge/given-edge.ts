/**
 * Fixtures for the edge integration suites, which run through both edges (the dev edge and Envoy,
 * test/helpers/edge-under-test.ts): small recording mTLS servers that stand in for authz and the
 * rating API where a test must see exactly what the edge sent or must make a peer misbehave (slow,
 * wrong identity, foreign CA, dead), and one fixture that puts an edge in front of two of them.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { closeServer, listen, type ListenAddress } from '../../../src/shared/listen.js';
import { uriSans } from '../../../src/shared/spiffe.js';
import { loadTopology, workloadNamed } from '../../../src/shared/topology.js';
import { edgeKindUnavailable, givenEdgeSite, type EdgeKind, type EdgeRegion, type EdgeSite, type EdgeSiteOptions, type EdgeUnderTest, type Reply } from '../../helpers/edge-under-test.js';
import { givenPki, WORKLOADS_YAML, type TestPki } from '../../helpers/given-pki.js';

/** One request a recording server received. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The URI SANs of the certificate the caller presented. */
  readonly peerUris: readonly string[];
  /** That certificate's serial, upper-case hex as Node prints it. */
  readonly peerSerial: string;
  /** The HTTP version the caller spoke: `2.0` or `1.1`. */
  readonly httpVersion: string;
}

export type Responder = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A recording mTLS server presenting a workload's certificate. */
export interface RecordingServer {
  readonly url: string;
  readonly received: Received[];
  respond: Responder;
  /** Requests whose head arrived, complete or not (`received` holds the complete ones). */
  readonly arrivals: number;
  /** Called with each body chunk as it arrives, before the request is complete. */
  onData: ((chunk: Buffer) => void) | undefined;
  /** Closes the connections no request is using, so the next request needs a new handshake. */
  dropIdleConnections(): void;
  close(): Promise<void>;
}

export interface RecordingServerOptions {
  /** Where to listen (default: loopback, a free port). */
  readonly at?: ListenAddress;
  /** The PKI that issued the certificate it presents (default: `pki`); another one is a foreign CA. */
  readonly issuer?: TestPki;
}

/**
 * A recording server presenting `workload`'s certificate from `options.issuer` (default `pki`). It
 * always verifies its callers against `pki`'s bundle, so that when an edge refuses it, the refusal
 * is the edge's and not the stand-in's.
 */
export async function givenRecordingServer(pki: TestPki, workload: string, respond: Responder, options: RecordingServerOptions = {}): Promise<RecordingServer> {
  const { cert, key } = await (options.issuer ?? pki).tls(workload);
  const { ca } = await pki.tls(workload);
  const received: Received[] = [];
  const holder: { respond: Responder; onData: ((chunk: Buffer) => void) | undefined; arrivals: number } = { respond, onData: undefined, arrivals: 0 };
  // HTTP/2 and HTTP/1.1 on one port, as the policy service's listener: Envoy's authz cluster speaks
  // h2, its rating_api cluster and the dev edge HTTP/1.1. A responder only writes a status, headers
  // and a body, which the HTTP/2 compatibility API takes as HTTP/1.1's does.
  const sockets = new Set<TLSSocket>();
  const sessions = new Set<Http2Session>();
  const busy = new Map<TLSSocket, number>();
  const server = createSecureServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, allowHTTP1: true }, (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    holder.arrivals++;
    // The connection: an HTTP/2 request's socket is a per-stream proxy, its session's is the connection's.
    const socket = ('stream' in req ? req.stream.session?.socket : req.socket) as TLSSocket;
    if ('stream' in res) {
      // What a responder reads of an HTTP/1.1 response: whether the exchange is over (Envoy cancels a
      // check with RST_STREAM where over HTTP/1.1 it closes the connection).
      const { stream } = res;
      Object.defineProperty(res, 'closed', { get: () => stream.closed || stream.destroyed });
    } else {
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      res.once('close', () => busy.set(socket, (busy.get(socket) ?? 1) - 1));
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      holder.onData?.(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const peer = socket.getPeerCertificate();
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: asHttp1Headers(req.headers), body, peerUris: uriSans(peer.subjectaltname), peerSerial: peer.serialNumber, httpVersion: req.httpVersion });
      holder.respond(req as IncomingMessage, res as ServerResponse, body);
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    if (socket.alpnProtocol !== 'h2') busy.set(socket, 0);
    socket.once('close', () => {
      sockets.delete(socket);
      busy.delete(socket);
    });
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const dropIdleConnections = (): void => {
    // HTTP/2: GOAWAY, so the client opens a new connection for its next request; streams in flight finish.
    for (const session of sessions) session.close();
    for (const [socket, inFlight] of busy) if (inFlight === 0) socket.destroy();
  };
  const at = options.at ?? { host: '127.0.0.1', port: 0 };
  const port = await listen(server, at);
  return {
    url: `https://${at.host}:${port}`,
    received,
    get respond() {
      return holder.respond;
    },
    set respond(r: Responder) {
      holder.respond = r;
    },
    get arrivals() {
      return holder.arrivals;
    },
    get onData() {
      return holder.onData;
    },
    set onData(f: ((chunk: Buffer) => void) | undefined) {
      holder.onData = f;
    },
    dropIdleConnections,
    close: () => {
      const closed = closeServer(server, 100);
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}

/**
 * An HTTP/2 request's headers as HTTP/1.1 has them, so that one assertion holds for both edges:
 * no pseudo-headers, and the authority as `host` (what authz's policy input does too).
 */
function asHttp1Headers(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const authority = headers[':authority'];
  if (authority === undefined) return headers;
  const out: IncomingHttpHeaders = Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':')));
  out.host ??= String(authority);
  return out;
}

/** The x-zt-client value the `allow` stand-in sends: alice's SPIFFE ID in the committed topology. */
export const ALICE_SPIFFE_ID = workloadNamed(loadTopology(WORKLOADS_YAML), 'client-alice').spiffeId;

/** Answers like the policy service allowing a request, plus a header that must not leak. */
export const allow: Responder = (_req, res) => {
  res.writeHead(200, {
    'x-zt-subject': 'alice',
    'x-zt-tenant': 'acme',
    'x-zt-roles': 'rater',
    'x-zt-client': ALICE_SPIFFE_ID,
    'x-ratelimit-limit': '60',
    'x-ratelimit-remaining': '59',
    'x-ratelimit-reset': '1',
    'x-internal-decision-trace': 'must-not-leak',
  });
  res.end('{"ignored":true}');
};

/** Answers like the upstream: 201 with a small JSON body. */
export const created: Responder = (_req, res) => {
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
};

/** How a fixture's stand-in for authz or the rating API is made. */
export interface StandIn {
  /** The workload whose certificate it presents (default: its own role's). */
  readonly workload?: string;
  /** The PKI that issued that certificate (default: the suite's); another one is a foreign CA. */
  readonly issuer?: TestPki;
  readonly respond?: Responder;
  /** Nothing listens where the edge sends: the stand-in is closed before the edge starts. */
  readonly dead?: boolean;
}

export interface EdgeFixtureOptions extends EdgeSiteOptions {
  readonly region?: EdgeRegion;
  readonly authz?: StandIn;
  readonly rating?: StandIn;
}

/** An edge of one kind in front of recording stand-ins for authz and the rating API. */
export interface EdgeFixture {
  readonly pki: TestPki;
  readonly edge: EdgeUnderTest;
  readonly authz: RecordingServer;
  readonly rating: RecordingServer;
  close(): Promise<void>;
}

/** Starts a site of `kind`, the two stand-ins where its edges send, and an edge; `close` undoes all three. */
export async function givenEdgeFixture(kind: EdgeKind, pki: TestPki, options: EdgeFixtureOptions = {}): Promise<EdgeFixture> {
  const site: EdgeSite = await givenEdgeSite(kind, pki, options);
  const standIns: RecordingServer[] = [];
  try {
    const start = async (role: 'authz' | 'rating-api', at: ListenAddress, spec: StandIn, respond: Responder): Promise<RecordingServer> => {
      const server = await givenRecordingServer(pki, spec.workload ?? role, spec.respond ?? respond, { at, ...(spec.issuer ? { issuer: spec.issuer } : {}) });
      standIns.push(server);
      if (spec.dead === true) await server.close();
      return server;
    };
    const authz = await start('authz', site.upstreams.authz, options.authz ?? {}, allow);
    const rating = await start('rating-api', site.upstreams.rating, options.rating ?? {}, created);
    const edge = await site.edge(options.region ?? 'us-east', { authzUrl: authz.url, ratingUrl: rating.url });
    return {
      pki,
      edge,
      authz,
      rating,
      async close() {
        await site.close();
        await Promise.all(standIns.map((s) => s.close()));
      },
    };
  } catch (err) {
    await site.close();
    await Promise.all(standIns.map((s) => s.close()));
    throw err;
  }
}

/**
 * The mocha hooks of a suite that shares one fixture: a fresh PKI and the fixture before the suite
 * (skipped, with the reason, where the kind cannot run), both gone after it. Returns the fixture.
 */
export function useEdgeFixture(kind: EdgeKind, options: EdgeFixtureOptions = {}): () => EdgeFixture {
  let fixture: EdgeFixture | undefined;
  let pki: TestPki | undefined;
  before(async function () {
    skipUnlessRunnable(this, kind);
    pki = await givenPki();
    fixture = await givenEdgeFixture(kind, pki, options);
  });
  after(async () => {
    await fixture?.close();
    await pki?.cleanup();
  });
  return () => {
    if (fixture === undefined) throw new Error('useEdgeFixture(): the suite has not started its edge yet');
    return fixture;
  };
}

/** Skips the suite (or test) of `context` when edges of `kind` cannot run here, naming why. */
export function skipUnlessRunnable(context: Mocha.Context, kind: EdgeKind): void {
  const why = edgeKindUnavailable(kind);
  if (why === undefined) return;
  console.warn(`skipping the ${kind} edge: ${why}`);
  context.skip();
}

/** The `{error, request_id}` body every JSON deny has; throws when the body is not that shape. */
export function denyBody(reply: Reply): { error: string; request_id: string | null } {
  const body = JSON.parse(reply.body) as unknown;
  if (typeof body !== 'object' || body === null || typeof (body as { error?: unknown }).error !== 'string') {
    throw new Error(`not a deny body: ${reply.body}`);
  }
  const { error, request_id: requestId } = body as { error: string; request_id?: unknown };
  return { error, request_id: typeof requestId === 'string' ? requestId : null };
}

/** The counters of a failed upstream certificate verification, by cluster, from the edge's stats. */
export async function verifyFailures(edge: EdgeUnderTest): Promise<Record<'authz' | 'rating_api', { chain: number; san: number }>> {
  const stats = await edge.stats();
  const of = (cluster: string): { chain: number; san: number } => {
    const chain = stats.get(`cluster.${cluster}.ssl.fail_verify_error`);
    const san = stats.get(`cluster.${cluster}.ssl.fail_verify_san`);
    if (chain === undefined || san === undefined) throw new Error(`the ${edge.kind} edge has no ssl verification counters for cluster ${cluster}`);
    return { chain, san };
  };
  return { authz: of('authz'), rating_api: of('rating_api') };
}
