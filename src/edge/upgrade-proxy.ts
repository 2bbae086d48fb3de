/**
 * The edge's route for an upgrade request (a WebSocket handshake) that authz allowed, as Envoy
 * does it with `upgrade_configs: websocket` on the route: the request goes to the rating API over
 * mTLS with the client's upgrade headers, and
 * - a 101 is passed back with the router's headers (`server`, the upstream service time, authz's
 *   rate-limit headers), then the two connections are joined byte for byte: frames, pings and
 *   close frames pass untouched, with back-pressure both ways, until either side closes;
 * - any other answer (the rating API refusing the stream: 403, 429, 503...) is passed back as a
 *   response, and the connection is closed after it;
 * - no answer is Envoy's 503 `UF`, or 504 `UT` past the route timeout.
 * The access log line is written when the joined connection closes, with status 101 and the
 * stream's whole duration, as Envoy logs an upgraded stream.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { request } from 'node:https';
import type { Duplex } from 'node:stream';
import { takeUpgrade, upgradeOf } from '../shared/http/upgrade.js';
import type { Logger } from '../shared/logger.js';
import { accessRecord } from './access-log.js';
import { EXPECTED_TIMEOUT_HEADER, hopByHopHeaders } from './envoy-headers.js';
import type { LocalReplies } from './local-reply.js';
import type { PeerAgent } from './peer-agent.js';
import { markTimedOut, onProxyError, RATING_CLUSTER, routerResponseHeaders } from './upstream-proxy.js';

/** How long one end of a closed stream may take to drain to the other before it is cut. */
const DRAIN_LIMIT_MS = 30_000;

export function upgradeProxy(target: URL, peer: PeerAgent, routeTimeoutMs: number, log: Logger, replies: LocalReplies): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return (req, res) =>
    new Promise<void>((resolve) => {
      const client = upgradeOf(req);
      if (client === undefined) throw new Error('upgradeProxy called for a request that asked for no upgrade');
      const record = accessRecord(req);
      record.upstreamCluster = RATING_CLUSTER;
      record.upstreamHost = target.host;
      record.upstreamStartedAt = performance.now();

      const headers: OutgoingHttpHeaders = { ...req.headers };
      for (const name of hopByHopHeaders(req.headers)) delete headers[name];
      headers.connection = 'upgrade';
      headers.upgrade = req.headers.upgrade;
      headers[EXPECTED_TIMEOUT_HEADER] = String(routeTimeoutMs);

      const upstream = request(new URL(req.url ?? '/', target.origin), { method: req.method, headers, agent: peer.agent });
      // The route timeout covers the handshake only: an open stream is ended by its ends.
      const deadline = setTimeout(() => {
        markTimedOut(req);
        upstream.destroy(new Error(`the rating API did not answer the upgrade within ${routeTimeoutMs} ms`));
      }, routeTimeoutMs);
      upstream.on('upgrade', (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
        clearTimeout(deadline);
        if (client.socket.destroyed) {
          upSocket.destroy();
          resolve();
          return;
        }
        const { socket, head } = takeUpgrade(req);
        routerResponseHeaders(req, upRes.headers, { upgraded: true });
        record.details = 'via_upstream';
        res.writeHead(101, upRes.headers);
        res.end();
        join(socket, head, upSocket, upHead, {
          received: (n) => (record.bytesReceived += n),
          sent: (n) => (record.upgradedBytesSent += n),
        });
        resolve();
      });
      upstream.on('response', (upRes: IncomingMessage) => {
        clearTimeout(deadline);
        routerResponseHeaders(req, upRes.headers);
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.once('end', resolve);
        upRes.once('error', () => {
          res.destroy();
          resolve();
        });
      });
      upstream.on('error', (err) => {
        clearTimeout(deadline);
        onProxyError(err, req, res, log, replies);
        resolve();
      });
      upstream.end();
    });
}

/**
 * Joins the client's connection and the upstream's: what each already read past the handshake
 * first, then both directions piped (pipe pauses the reader while the writer is full). An end that
 * closes lets what is still buffered for the other flow out before that one is ended too, so a
 * close frame is never dropped; a failed end cuts the other at once, and an end that cannot drain
 * (a peer that reads nothing) is cut after DRAIN_LIMIT_MS. `count` hears the bytes each way, for
 * the access log.
 */
function join(client: Duplex, clientHead: Buffer, upstream: Duplex, upstreamHead: Buffer, count: { received(n: number): void; sent(n: number): void }): void {
  if (upstreamHead.length > 0) {
    count.sent(upstreamHead.length);
    client.write(upstreamHead);
  }
  if (clientHead.length > 0) {
    count.received(clientHead.length);
    upstream.write(clientHead);
  }
  client.on('data', (chunk: Buffer) => count.received(chunk.length));
  upstream.on('data', (chunk: Buffer) => count.sent(chunk.length));
  const follow = (from: Duplex, to: Duplex): void => {
    from.once('error', () => to.destroy());
    from.once('close', () => {
      if (to.destroyed) return;
      to.end();
      setTimeout(() => to.destroy(), DRAIN_LIMIT_MS).unref();
    });
  };
  follow(client, upstream);
  follow(upstream, client);
  upstream.pipe(client);
  client.pipe(upstream);
}
