import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders as Http2Headers } from 'node:http2';
import { Agent } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { EDGE_KINDS, type ClientTls, type EdgeKind, type Reply } from '../../helpers/edge-under-test.js';
import { allow, created, useEdgeFixture } from './given-edge.js';

const RATINGS = '/v1/tenants/acme/items/widget/ratings';

/** The fields of Envoy's access log line (envoy.yaml's json_format), sorted. */
const ENVOY_ACCESS_FIELDS = [
  'authority', 'bytes_received', 'bytes_sent', 'downstream_local_uri_san', 'downstream_peer_uri_san', 'downstream_remote_address',
  'duration_ms', 'level', 'method', 'msg', 'path', 'protocol', 'request_id', 'response_code_details', 'response_flags', 'service',
  'status', 'time', 'tls_version', 'upstream_cluster', 'upstream_host', 'upstream_service_time_ms', 'user_agent',
];

/**
 * A difference in the access log that stays: the dev edge's pino lines also carry `region` (Envoy's
 * get it from the container's label in Loki) and `start_time` (pino's `time` is when the line was
 * written; Envoy's `time` is when the request started).
 */
const ACCESS_FIELDS: Readonly<Record<EdgeKind, readonly string[]>> = {
  envoy: ENVOY_ACCESS_FIELDS,
  dev: [...ENVOY_ACCESS_FIELDS, 'region', 'start_time'].sort(),
};

/**
 * A difference that stays: the dev edge speaks HTTP/1.1 only (Express and http-proxy-middleware
 * are HTTP/1 servers); Envoy's listener offers h2 and http/1.1 (envoy.yaml's alpn_protocols) and
 * talks HTTP/1.1 to the rating API either way.
 */
const NEGOTIATED: Readonly<Record<EdgeKind, string>> = { envoy: 'h2', dev: 'http/1.1' };

/**
 * What a client sees of the edge itself, through the dev edge and through Envoy: the headers the
 * edge writes on responses, the shape of every answer it makes up on its own, the access log's
 * format, and which HTTP versions it speaks. This is the parity of behaviour that replaced the
 * comparison of the dev edge's config with envoy.yaml.
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: what clients see of the edge itself`, () => {
    const fixture = useEdgeFixture(kind);
    let alice: ClientTls;
    let agent: Agent;

    before(async () => {
      alice = await fixture().pki.tls('client-alice');
      agent = new Agent({ keepAlive: true, maxSockets: 1, ...alice });
    });

    afterEach(() => {
      fixture().authz.respond = allow;
      fixture().rating.respond = created;
    });

    after(() => {
      agent?.destroy();
    });

    /** Sends over a keep-alive connection, so that the answer shows whether the edge keeps it. */
    function send(path: string, headers: Record<string, string> = {}): Promise<Reply> {
      return fixture().edge.send(alice, { path, headers, agent });
    }

    it("writes server: envoy over the upstream's server header and adds x-envoy-upstream-service-time to a proxied response", async () => {
      fixture().rating.respond = (_req, res) => {
        res.writeHead(201, { 'content-type': 'application/json', server: 'Express', 'x-powered-by': 'Express' });
        res.end('{"ok":true}');
      };
      const res = await send(RATINGS);
      assert.equal(res.status, 201);
      assert.equal(res.headers.server, 'envoy', "the rating API's own server header never reaches the client");
      assert.match(String(res.headers['x-envoy-upstream-service-time']), /^\d+$/);
      assert.equal(res.headers['x-powered-by'], 'Express', 'other upstream headers pass as they are');
      assert.ok(res.headers.date);
    });

    it('answers a denial with server: envoy and no x-envoy-upstream-service-time, as nothing went upstream', async () => {
      fixture().authz.respond = (req, res) => {
        res.writeHead(403, { 'content-type': 'application/json', server: 'authz' });
        res.end(JSON.stringify({ error: 'forbidden_role', request_id: req.headers['x-request-id'] }));
      };
      const res = await send(RATINGS);
      assert.equal(res.status, 403);
      assert.equal(res.headers.server, 'envoy');
      assert.equal(res.headers['x-envoy-upstream-service-time'], undefined);
      assert.notEqual(res.headers.connection, 'close', 'a denial keeps the connection');
    });

    it('answers unavailable with exactly the JSON body of local_reply_config, a newline and application/json', async () => {
      fixture().authz.respond = (_req, res) => {
        res.writeHead(500);
        res.end();
      };
      const res = await send(RATINGS);
      const id = String(fixture().authz.received.at(-1)?.headers['x-request-id']);
      assert.equal(res.status, 503);
      assert.equal(res.body, `{"error":"unavailable","request_id":"${id}"}\n`);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
      assert.equal(res.headers.server, 'envoy');
      assert.equal(res.headers['x-request-id'], undefined, 'a local reply carries the request id in its body only');
      assert.equal(res.headers['retry-after'], '1', 'unavailable is transient: when to try again');
      assert.notEqual(res.headers.connection, 'close', 'the edge keeps the connection');
    });

    it('answers a path no route matches with a JSON 404 not_found naming the request, and keeps the connection', async () => {
      const res = await send('/v2/anything');
      assert.equal(res.status, 404);
      const line = await fixture().edge.accessLine((l) => l.status === 404 && l.path === '/v2/anything');
      assert.equal(res.body, `{"error":"not_found","request_id":"${String(line.request_id)}"}\n`);
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers.server, 'envoy');
      assert.notEqual(res.headers.connection, 'close');
    });

    it('answers a path it cannot normalise with a JSON 400 bad_request without a request id and closes the connection', async () => {
      const res = await send('/v1/tenants/acme%2fglobex/items/widget/ratings');
      assert.equal(res.status, 400);
      assert.equal(res.body, '{"error":"bad_request","request_id":null}\n');
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers.server, 'envoy');
      assert.equal(res.headers.connection, 'close');
    });

    it('answers a header name with an underscore with a JSON 400 bad_request and closes the connection', async () => {
      const res = await send(RATINGS, { x_forbidden: '1' });
      assert.equal(res.status, 400);
      assert.equal(res.body, '{"error":"bad_request","request_id":null}\n');
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers.server, 'envoy');
      assert.equal(res.headers.connection, 'close');
    });

    it("writes its access log with Envoy's field names and value types", async () => {
      const ok = await send(RATINGS);
      assert.equal(ok.status, 201);
      const id = String(fixture().rating.received.at(-1)?.headers['x-request-id']);
      await fixture().edge.accessLine(id);
      await send('/v2/unrouted');
      await fixture().edge.accessLine((l) => l.path === '/v2/unrouted');
      const raw = fixture().edge.rawAccessLines();
      const proxied = raw.find((l) => l.request_id === id);
      const unrouted = raw.find((l) => l.path === '/v2/unrouted');
      assert.ok(proxied && unrouted);
      for (const line of [proxied, unrouted]) assert.deepEqual(Object.keys(line).sort(), ACCESS_FIELDS[kind]);
      // As printed, before any normalising: numbers are numbers, Envoy's header-valued fields strings.
      assert.equal(proxied.response_flags, '-', 'no flags print as -');
      assert.equal(typeof proxied.upstream_service_time_ms, 'string');
      for (const field of ['status', 'duration_ms', 'bytes_received', 'bytes_sent']) assert.equal(typeof proxied[field], 'number', field);
      assert.equal(proxied.level, 'info');
      assert.equal(unrouted.response_flags, 'NR');
      for (const field of ['upstream_service_time_ms', 'upstream_cluster', 'upstream_host', 'user_agent']) assert.equal(unrouted[field], null, field);
    });

    it(`negotiates ${NEGOTIATED[kind]} with a client that offers h2 and http/1.1`, async () => {
      const socket: TLSSocket = connect({ ...fixture().edge.tlsOptions(alice), ALPNProtocols: ['h2', 'http/1.1'] });
      try {
        await once(socket, 'secureConnect');
        assert.equal(socket.alpnProtocol, NEGOTIATED[kind]);
      } finally {
        socket.destroy();
      }
    });

    if (kind === 'envoy') {
      it('serves a request over HTTP/2 and forwards it to the rating API over HTTP/1.1 with the same XFCC', async () => {
        const { edge, rating } = fixture();
        const session = http2Connect(`https://${edge.address.host}:${edge.address.port}`, edge.tlsOptions(alice));
        try {
          const res = await http2Request(session, RATINGS, '{"score":5}');
          assert.equal(res.headers[':status'], 201);
          assert.equal(res.headers.server, 'envoy');
          assert.equal(res.body, '{"ok":true}');
          const seen = rating.received.at(-1);
          assert.ok(seen);
          assert.equal(seen.headers['x-forwarded-client-cert']?.toString().endsWith(`;URI=${fixture().pki.spiffeId('client-alice')}`), true);
          const line = await edge.accessLine(String(seen.headers['x-request-id']));
          assert.equal(line.protocol, 'HTTP/2');
        } finally {
          session.close();
        }
      });
    } else {
      it('refuses a client that offers only h2 in the handshake (no_application_protocol)', async () => {
        const { edge } = fixture();
        const session = http2Connect(`https://${edge.address.host}:${edge.address.port}`, edge.tlsOptions(alice));
        const [err] = (await once(session, 'error')) as [NodeJS.ErrnoException];
        session.destroy();
        assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
      });
    }
  });
}

async function http2Request(session: ClientHttp2Session, path: string, body: string): Promise<{ headers: Http2Headers; body: string }> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
  stream.end(body);
  const [headers] = (await once(stream, 'response')) as [Http2Headers];
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return { headers, body: Buffer.concat(chunks).toString('utf8') };
}
