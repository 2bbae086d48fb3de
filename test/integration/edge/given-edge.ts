/**
 * Fixtures for the dev edge's integration tests: the edge itself over real mTLS on port 0, small
 * recording mTLS servers that stand in for authz and the rating API where a test must see exactly
 * what the edge sent or must make the peer misbehave (slow, wrong identity), and a client.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Agent} from 'node:https';
import { createServer, request, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { buildApp, type Edge } from '../../../src/edge/app.js';
import { loadEdgeConfig, type EdgeConfig } from '../../../src/edge/config.js';
import { closeServer, listen } from '../../../src/shared/listen.js';
import { createLogger } from '../../../src/shared/logger.js';
import { uriSans } from '../../../src/shared/spiffe.js';
import type { TestPki } from '../../helpers/given-pki.js';

export const ENVOY_YAML = resolve(import.meta.dirname, '../../../envoy/envoy.yaml');

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
}

export type Responder = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A recording mTLS server presenting `workload`'s certificate. */
export interface RecordingServer {
  readonly url: string;
  readonly received: Received[];
  respond: Responder;
  /** Requests whose head arrived, complete or not (`received` holds the complete ones). */
  readonly arrivals: number;
  /** Called with each body chunk as it arrives, before the request is complete. */
  onData: ((chunk: Buffer) => void) | undefined;
  close(): Promise<void>;
}

export async function givenRecordingServer(pki: TestPki, workload: string, respond: Responder): Promise<RecordingServer> {
  const tls = await pki.tls(workload);
  const received: Received[] = [];
  const holder: { respond: Responder; onData: ((chunk: Buffer) => void) | undefined; arrivals: number } = { respond, onData: undefined, arrivals: 0 };
  const server: Server = createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    holder.arrivals++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      holder.onData?.(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        peerUris: uriSans((req.socket as TLSSocket).getPeerCertificate().subjectaltname),
        peerSerial: (req.socket as TLSSocket).getPeerCertificate().serialNumber,
      });
      holder.respond(req, res, body);
    });
  });
  const port = await listen(server, { host: '127.0.0.1', port: 0 });
  return {
    url: `https://127.0.0.1:${port}`,
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
    close: () => closeServer(server, 100),
  };
}

/** Answers like the policy service allowing a request, plus a header that must not leak. */
export const allow: Responder = (_req, res) => {
  res.writeHead(200, {
    'x-zt-subject': 'alice',
    'x-zt-tenant': 'acme',
    'x-zt-roles': 'rater',
    'x-zt-client': 'spiffe://zt.local/us-east/client/alice',
    'x-ratelimit-limit': '60',
    'x-ratelimit-remaining': '59',
    'x-ratelimit-reset': '1',
    'x-internal-decision-trace': 'must-not-leak',
  });
  res.end('{"ignored":true}');
};

/** Answers like the upstream: 201 with a JSON echo of nothing in particular. */
export const created: Responder = (_req, res) => {
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
};

/** A running dev edge and what it logged. */
export interface RunningEdge {
  readonly port: number;
  readonly adminPort: number;
  readonly edge: Edge;
  readonly config: EdgeConfig;
  /** Every JSON log line, parsed. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface GivenEdgeOptions {
  readonly region?: 'us-east' | 'eu-central';
  readonly authzUrl: string;
  readonly ratingUrl: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Loads the edge's config exactly as main does (from an env), builds it and listens on port 0. */
export async function givenEdge(pki: TestPki, opts: GivenEdgeOptions): Promise<RunningEdge> {
  const config = await loadEdgeConfig({
    ZT_PKI_DIR: pki.dir,
    EDGE_REGION: opts.region ?? 'us-east',
    EDGE_LISTEN: '127.0.0.1:0',
    EDGE_ADMIN_LISTEN: '127.0.0.1:0',
    ENVOY_CONFIG: ENVOY_YAML,
    AUTHZ_URL: opts.authzUrl,
    RATING_URL: opts.ratingUrl,
    LOG_LEVEL: 'debug',
    ...opts.env,
  });
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('edge', { level: 'debug', bindings: { region: config.region }, destination });
  const edge = buildApp(config, { logger });
  const admin = createHttpServer(edge.admin);
  const port = await listen(edge.server, config.listen);
  const adminPort = await listen(admin, config.adminListen);
  return {
    port,
    adminPort,
    edge,
    config,
    logs,
    async close() {
      await Promise.all([closeServer(edge.server, 100), closeServer(admin, 100)]);
      edge.close();
      config.tls.close();
    },
  };
}

/** A response as a test sees it. */
export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** PEM material for a client connection. */
export interface ClientTls {
  readonly cert?: string;
  readonly key?: string;
  readonly ca: string;
}

/**
 * Sends one request over mTLS with a raw https.request, for what supertest cannot express (a
 * streamed body, a handshake that must fail). `body` may be a function that writes the body.
 */
export async function send(
  port: number,
  tls: ClientTls,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | ((req: ClientRequest) => void); agent?: Agent },
): Promise<Reply> {
  const req = request({
    host: '127.0.0.1',
    port,
    method: opts.method ?? 'GET',
    path: opts.path,
    headers: opts.headers,
    ...tls,
    agent: opts.agent ?? false,
  });
  const responded = once(req, 'response') as Promise<[IncomingMessage]>;
  if (typeof opts.body === 'function') opts.body(req);
  else req.end(opts.body);
  const [res] = await responded;
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** The port of a closed loopback listener: nothing answers there. */
export async function deadPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The access log line of a request (by request id or predicate), once the edge has written it: the
 * line is written when the response closes, which can be just after the client has read it.
 */
export async function accessLine(edge: RunningEdge, match: string | ((line: Record<string, unknown>) => boolean)): Promise<Record<string, unknown>> {
  const test = typeof match === 'string' ? (l: Record<string, unknown>) => l.request_id === match : match;
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = edge.logs.find((l) => l.msg === 'access' && test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no access log line matching ${String(match)} in ${JSON.stringify(edge.logs)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
