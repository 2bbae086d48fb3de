import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import tls, { type TLSSocket } from 'node:tls';
import { withPkiLock } from '../../src/pki/lock.js';
import { rotate } from '../../src/pki/rotate.js';
import { serverMessageSchema } from '../../src/rating/stream/stream-messages.js';
import { STREAM_SUBPROTOCOL } from '../../src/shared/http/bearer-token.js';
import { createLogger } from '../../src/shared/logger.js';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { startService, type RunningService } from '../../src/shared/service.js';
import { EDGE_KINDS, givenStack, ratingsPath, type Address, type Region, type TestStack } from '../helpers/given-stack.js';
import { captureLogs, ratingService, type CapturedLogs } from '../integration/rating/rating-harness.js';
import { runScript } from '../helpers/run-script.js';
import { isRefusal, StreamClient, type Refusal } from '../helpers/stream-client.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The rating stream end to end, through the dev edge and through the real Envoy on the shipped
 * envoy/envoy.yaml: mTLS client certificate, ext_authz on the handshake, the rating API's stream,
 * all real processes started as `npm start` starts them. The same assertions run through both.
 */
const ITEM = 'live';
const STREAM = `${ratingsPath(ITEM)}/stream`;
/** Stream settings of the stack under test: a small bucket, a short grace, the default send buffer. */
const GRACE_MS = 1000;
const BURST = 10;
const SEND_BUFFER = 262_144;
const STACK_ENV = { RATING_STREAM_EXPIRY_GRACE_MS: String(GRACE_MS), RATING_STREAM_MSG_BURST: String(BURST), RATING_STREAM_MSG_PER_S: '2', RATING_STREAM_SEND_BUFFER_BYTES: String(SEND_BUFFER) };
/**
 * What the rating API's RSS may grow by while 10,000 updates go to a client that reads nothing,
 * after the same writes warmed it up. A guard against gross growth only, sized from what the
 * garbage collector alone moves it by: -12 to +60 MiB over runs of the same writes (48 MiB, the
 * first bound, failed a CI run at +60). RSS cannot show the stream's own bound: 10,000 updates of
 * about 160 bytes are 1.6 MB, most of which kernel socket buffers and the edge hold anyway (32
 * such consumers with a 64 MiB send buffer, which held every update, moved it by -10 and +24 MiB). What does show it is the
 * stream's accounting at the close: unread bytes within SEND_BUFFER.
 */
const RSS_BOUND_BYTES = 96 * 1024 * 1024;

for (const edgeKind of EDGE_KINDS) {
  describe(`the rating stream through the ${edgeKind === 'envoy' ? 'real Envoy' : 'dev edge'}`, function () {
    this.timeout(240_000);
    let s: TestStack;
    const open: StreamClient[] = [];

    before(async function () {
      s = await givenStack({ edge: edgeKind, env: STACK_ENV });
    });
    after(async () => {
      await Promise.all(open.splice(0).map((c) => c.close()));
      await s?.stop();
    });

    /** Opens a stream through `region`'s edge presenting `client`'s certificate; a refusal is returned as such. */
    async function openStream(options: { path?: string; headers?: Record<string, string>; protocols?: string[]; region?: Region; client?: string } = {}): Promise<StreamClient | Refusal> {
      const tls = await s.pki.tls(options.client ?? 'client-alice');
      const c = await StreamClient.open(s.edgeAddress(options.region ?? 'us-east'), options.path ?? STREAM, { ...tls, ...(options.headers ? { headers: options.headers } : {}), ...(options.protocols ? { protocols: options.protocols } : {}) });
      if (!isRefusal(c)) open.push(c);
      return c;
    }

    async function stream(token: string, path = STREAM): Promise<StreamClient> {
      const c = await openStream({ path, headers: { authorization: `Bearer ${token}` } });
      if (isRefusal(c)) throw new Error(`refused: ${c.status} ${c.body}`);
      return c;
    }

    async function refused(options: Parameters<typeof openStream>[0]): Promise<Refusal> {
      const r = await openStream(options);
      if (!isRefusal(r)) throw new Error('the handshake was not refused');
      return r;
    }

    it('delivers the aggregate at once, then a REST POST and a socket publish in order with increasing sequence numbers', async () => {
      const viewer = await stream(await s.token({ sub: 'vera', roles: ['viewer'] }));
      const snapshot = await viewer.next('snapshot');
      assert.equal(snapshot.item, ITEM);
      assert.equal(snapshot.resync, false);

      const edge = await s.edge('us-east');
      const post = await edge.post(ratingsPath(ITEM)).set('authorization', `Bearer ${await s.token()}`).send({ score: 5 });
      assert.equal(post.status, 201, JSON.stringify(post.body));
      const rita = await stream(await s.token({ sub: 'rita' }));
      await rita.next('snapshot');
      rita.send({ type: 'rate', id: 'rita-1', score: 3 });
      const result = await rita.next('result');
      assert.deepEqual([result.ref, result.status, result.rating?.user], ['rita-1', 201, 'rita']);

      const first = await viewer.next('update');
      const second = await viewer.next('update', { where: (u) => u.seq > first.seq });
      assert.deepEqual([first.seq, second.seq], [snapshot.seq + 1, snapshot.seq + 2]);
      assert.equal((post.body as { seq: number }).seq, first.seq, 'the first update is the POST');
      assert.equal(result.rating?.seq, second.seq, 'the second is the publish');
      assert.deepEqual([first.aggregate.count, first.aggregate.average, second.aggregate.count, second.aggregate.average], [snapshot.aggregate.count + 1, first.aggregate.average, snapshot.aggregate.count + 2, second.aggregate.average]);
      assert.equal(viewer.messages.filter((m) => m.type === 'update').length, 2, 'one update per change');

      // The edge logs the stream once it ends, as one request: the 101, its whole life, no query.
      const requestId = String(viewer.upgradeHeaders?.['x-request-id']);
      await viewer.close();
      const line = await s.accessLine('us-east', requestId);
      assert.equal(line.status, 101);
      assert.equal(line.path, STREAM);
      assert.equal(line.upstream_cluster, 'rating_api');
      assert.equal(line.upstream_service_time_ms, null);
      assert.equal(line.downstream_peer_uri_san, s.pki.spiffeId('client-alice'));
      assert.ok(Number(line.bytes_sent) > 0, 'the frames sent count as bytes sent');
    });

    it('takes the token from Sec-WebSocket-Protocol as a browser sends it, selects zt-ratings.v1 and never echoes the token', async () => {
      const token = await s.token({ sub: 'vera', roles: ['viewer'] });
      const c = await openStream({ protocols: [STREAM_SUBPROTOCOL, `bearer.${token}`] });
      assert.ok(!isRefusal(c), isRefusal(c) ? c.body : '');
      assert.equal(c.ws.protocol, STREAM_SUBPROTOCOL);
      assert.equal(c.upgradeHeaders?.['sec-websocket-protocol'], STREAM_SUBPROTOCOL);
      assert.ok(!JSON.stringify(c.upgradeHeaders).includes(token.slice(-20)), 'the token is not in the 101');
      assert.equal((await c.next('snapshot')).item, ITEM);
    });

    it('passes the rating API\'s own refusal back: subprotocols without zt-ratings.v1 are 400 with the field', async () => {
      const token = await s.token({ sub: 'vera', roles: ['viewer'] });
      const r = await refused({ protocols: ['chat.v2', `bearer.${token}`] });
      assert.equal(r.status, 400);
      assert.equal(r.error, 'invalid_request');
      assert.deepEqual((JSON.parse(r.body) as { fields: { path: string }[] }).fields.map((f) => f.path), ['sec-websocket-protocol']);
      assert.equal(r.headers.server, 'envoy');
    });

    it('is watched with npm run watch: the snapshot, a published rating\'s result and update as JSON lines, then exit 0', async () => {
      const at = s.edgeAddress('us-east');
      const args = ['--dir', s.pki.dir, '--config', s.pki.configFile, '--edge', `${at.host}:${at.port}`, '--item', 'watched', '--rate', '4', '--count', '1'];
      const watched = await runScript('watch', [...args, '--subprotocol'], { ZT_TOKEN: await s.token({ sub: 'wally' }) });
      assert.equal(watched.code, 0, watched.stderr);
      const lines = watched.stdout.trim().split('\n').map((l) => serverMessageSchema.parse(JSON.parse(l)));
      assert.deepEqual(lines.map((m) => m.type).sort(), ['result', 'snapshot', 'update']);
      assert.equal(lines[0]?.type, 'snapshot');
      assert.match(watched.stderr, /open, subprotocol zt-ratings\.v1/);
      assert.match(watched.stderr, /closed 1000/);
      const refused = await runScript('watch', args, { ZT_TOKEN: await s.token({ region: 'eu-central' }) });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /refused: 403 \{"error":"cross_region"/);
    });

    it('refuses the handshake without a token with 401 missing_token, before any upgrade', async () => {
      const r = await refused({});
      assert.equal(r.status, 401);
      assert.equal(r.error, 'missing_token');
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    });

    it('ignores a token in the query string: 401 missing_token', async () => {
      const r = await refused({ path: `${STREAM}?access_token=${await s.token()}` });
      assert.equal(r.status, 401);
      assert.equal(r.error, 'missing_token');
    });

    it('refuses a cross-region token with 403 cross_region', async () => {
      const r = await refused({ headers: { authorization: `Bearer ${await s.token({ region: 'eu-central' })}` } });
      assert.equal(r.status, 403);
      assert.equal(r.error, 'cross_region');
    });

    it('refuses another tenant\'s stream with 403 tenant_mismatch', async () => {
      const r = await refused({ headers: { authorization: `Bearer ${await s.token({ tenant: 'globex', region: 'us-east' })}` } });
      assert.equal(r.status, 403);
      assert.equal(r.error, 'tenant_mismatch');
    });

    it('closes a viewer that publishes with 4003', async () => {
      const viewer = await stream(await s.token({ sub: 'vic', roles: ['viewer'] }));
      await viewer.next('snapshot');
      viewer.send({ type: 'rate', id: 'v', score: 1 });
      const closed = await viewer.waitClosed();
      assert.equal(closed.code, 4003);
      assert.match(closed.reason, /^forbidden_role/);
    });

    it('closes a stream opened with a 5 s token with 4001 within 1 s after the grace', async () => {
      const c = await stream(await s.token({ sub: 'eve', roles: ['viewer'] }, 5000));
      const due = Date.parse((await c.next('snapshot')).expires_at) + GRACE_MS;
      const closed = await c.waitClosed(20_000);
      const late = Date.now() - due;
      assert.equal(closed.code, 4001);
      assert.ok(late >= 0 && late <= 1000, `closed ${late} ms after exp + grace`);
    });

    it('keeps a stream open past its first token\'s expiry once a fresh token is sent over it, verified by authz', async () => {
      const c = await stream(await s.token({ sub: 'fred', roles: ['viewer'] }, 5000));
      const firstDue = Date.parse((await c.next('snapshot')).expires_at) + GRACE_MS;
      c.send({ type: 'refresh', id: 'forged', token: `${(await s.token({ sub: 'fred', roles: ['viewer'] })).slice(0, -4)}AAAA` });
      assert.equal((await c.next('error', { where: (e) => e.ref === 'forged' })).error, 'invalid_token');
      c.send({ type: 'refresh', id: 'other', token: await s.token({ sub: 'mallory', roles: ['viewer'] }) });
      assert.equal((await c.next('error', { where: (e) => e.ref === 'other' })).error, 'subject_mismatch');
      c.send({ type: 'refresh', id: 'fresh', token: await s.token({ sub: 'fred', roles: ['viewer'] }, 60_000) });
      const refreshed = await c.next('refreshed');
      assert.equal(refreshed.ref, 'fresh');
      assert.ok(Date.parse(refreshed.expires_at) > firstDue + 30_000);
      await new Promise((r) => setTimeout(r, Math.max(0, firstDue + 1500 - Date.now())));
      c.send({ type: 'ping', id: 'still-here' });
      assert.deepEqual(await c.next('pong', { where: (p) => p.ref === 'still-here' }), { type: 'pong', ref: 'still-here' });
    });

    it(`closes a client that floods messages with 1008, after admitting the bucket (${BURST}) within one`, async () => {
      const c = await stream(await s.token({ sub: 'flo', roles: ['viewer'] }));
      await c.next('snapshot');
      for (let i = 0; i < 4 * BURST; i++) c.send({ type: 'ping', id: `p${i}` });
      const closed = await c.waitClosed();
      assert.equal(closed.code, 1008);
      const pongs = c.messages.filter((m) => m.type === 'pong').length;
      assert.ok(Math.abs(pongs - BURST) <= 1, `${pongs} pongs`);
      assert.deepEqual(c.messages.filter((m) => m.type === 'error').map((m) => m.type === 'error' && m.error), ['rate_limited']);
    });

    it('refuses a 1 MiB frame: the stream closes with 1009 and nothing is stored', async () => {
      const c = await stream(await s.token({ sub: 'max' }));
      const before = (await c.next('snapshot')).seq;
      c.send({ type: 'rate', id: 'big', score: 5, comment: 'x'.repeat(1024 * 1024) });
      assert.equal((await c.waitClosed()).code, 1009);
      const again = await stream(await s.token({ sub: 'max' }));
      assert.equal((await again.next('snapshot')).seq, before, 'no change was made');
    });

    it('closes a consumer that reads nothing while 10,000 updates are sent with 1013, and the rating API\'s RSS stays within the bound', async function () {
      const item = 'firehose';
      // The same writes once before, on the same item, to a subscriber that reads them all: the
      // rating API's heap grows to what handling and sending them takes.
      const reader = await stream(await s.token({ sub: 'reader', roles: ['viewer'] }), `${ratingsPath(item)}/stream`);
      await reader.next('snapshot');
      await writeDirect(s, item, 10_000);
      await reader.close();
      const slow = await stream(await s.token({ sub: 'sloth', roles: ['viewer'] }), `${ratingsPath(item)}/stream`);
      await slow.next('snapshot');
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const pid = s.stack.pids.rating;
      assert.ok(pid !== undefined);
      const rssBefore = await rssOf(pid);
      await writeDirect(s, item, 10_000);
      const rssAfter = await rssOf(pid);
      socket.resume();
      const closed = await slow.waitClosed(60_000);
      assert.equal(closed.code, 1013);
      const updates = slow.messages.filter((m) => m.type === 'update').length;
      assert.ok(updates < 10_000 / 2, `the client got ${updates} updates before the close`);
      const line = await waitFor('the close line', () => ratingLines(s).find((l) => l.msg === 'stream' && l.event === 'closed' && l.subject === 'sloth'), 30_000);
      assert.ok(Number(line.unread_bytes) <= SEND_BUFFER, `${String(line.unread_bytes)} unread bytes at the close`);
      assert.ok(rssAfter - rssBefore < RSS_BOUND_BYTES, `RSS grew by ${mib(rssAfter - rssBefore)} MiB`);
      this.test!.title += ` (RSS ${mib(rssBefore)} -> ${mib(rssAfter)} MiB; ${updates} updates read before the close)`;
    });
  });
}

/** The rating API's JSON log lines. */
function ratingLines(s: TestStack): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of s.lines) {
    const bar = line.indexOf(' | ');
    if (bar === -1 || line.slice(0, bar).trim() !== 'rating') continue;
    try {
      out.push(JSON.parse(line.slice(bar + 3)) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return out;
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

/**
 * `count` rating writes straight to the rating API, as an edge sends them (its certificate and the
 * x-zt-* headers authz would set), 16 at a time: fast enough to reach 10,000 in seconds, which the
 * edge's rate limits (rightly) would not allow.
 */
async function writeDirect(s: TestStack, item: string, count: number): Promise<void> {
  const edge = await s.pki.tls('edge-us-east');
  const at = s.serviceAddress('rating');
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ...edge });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: at.host,
            port: at.port,
            servername: at.servername,
            method: 'POST',
            path: ratingsPath(item),
            agent,
            headers: { 'content-type': 'application/json', 'x-zt-subject': `w${i % 1000}`, 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater', 'x-zt-client': s.pki.spiffeId('client-alice') },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ score: (i % 5) + 1 }));
      });
      if (status !== 200 && status !== 201) throw new Error(`write ${i} answered ${status}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    agent.destroy();
  }
}

for (const edgeKind of EDGE_KINDS) {
  describe(`the rating stream across rating-API instances and rotations, with Redis, through the ${edgeKind === 'envoy' ? 'real Envoy' : 'dev edge'}`, function () {
    this.timeout(300_000);
    let s: TestStack;
    let second: { running: RunningService; logs: CapturedLogs; port: number } | undefined;
    const open: StreamClient[] = [];

    before(async function () {
      s = await givenStack({ edge: edgeKind, redis: 'local', env: STACK_ENV });
      // A second rating API on the same Redis, as a second replica would run (in this process).
      const logs = captureLogs();
      const running = await startService(ratingService(createLogger('rating', { level: 'info', destination: logs.destination })), {
        ZT_PKI_DIR: s.pki.dir,
        ZT_PKI_CONFIG: s.pki.configFile,
        RATING_LISTEN: '127.0.0.1:0',
        RATING_ADMIN_LISTEN: '127.0.0.1:0',
        REDIS_URL: s.stack.redisUrl ?? '',
      });
      second = { running, logs, port: running.ports.port ?? 0 };
    });
    after(async () => {
      await Promise.all(open.splice(0).map((c) => c.close()));
      await second?.running.stop();
      await s?.stop();
    });

    async function viaEdge(token: string, path: string): Promise<StreamClient> {
      const c = await StreamClient.connect(s.edgeAddress('us-east'), path, { ...(await s.pki.tls('client-alice')), headers: { authorization: `Bearer ${token}` } });
      open.push(c);
      return c;
    }

    /** A stream straight on the second instance, opened as an edge opens it (its certificate, authz's x-zt-* headers, the token). */
    async function onSecond(sub: string, path: string): Promise<StreamClient> {
      const headers = { authorization: `Bearer ${await s.token({ sub, roles: ['viewer'] })}`, 'x-zt-subject': sub, 'x-zt-tenant': 'acme', 'x-zt-roles': 'viewer', 'x-zt-client': s.pki.spiffeId('client-alice') };
      const c = await StreamClient.connect({ host: '127.0.0.1', port: second?.port ?? 0, servername: 'localhost' }, path, { ...(await s.pki.tls('edge-us-east')), headers });
      open.push(c);
      return c;
    }

    it('delivers a write made through one instance to a subscriber of the other, both ways', async () => {
      const path = `${ratingsPath('fan')}/stream`;
      const throughEdge = await viaEdge(await s.token({ sub: 'una', roles: ['viewer'] }), path);
      const onOther = await onSecond('otto', path);
      const start = (await throughEdge.next('snapshot')).seq;
      assert.equal((await onOther.next('snapshot')).seq, start);

      // A REST write on the second instance reaches the stream held by the first (through the edge).
      const edgeTls = await s.pki.tls('edge-us-east');
      const agent = new Agent({ ...edgeTls });
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: second?.port, servername: 'localhost', method: 'POST', path: ratingsPath('fan'), agent, headers: { 'content-type': 'application/json', 'x-zt-subject': 'wanda', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ score: 2 }));
      });
      agent.destroy();
      assert.equal(status, 201);
      assert.equal((await throughEdge.next('update')).seq, start + 1);

      // A socket publish through the edge (the first instance) reaches the stream on the second.
      const rater = await viaEdge(await s.token({ sub: 'rolf' }), path);
      await rater.next('snapshot');
      rater.send({ type: 'rate', id: 'r', score: 4 });
      assert.equal((await rater.next('result')).status, 201);
      const seen = [await onOther.next('update'), await onOther.next('update', { where: (u) => u.seq === start + 2 })];
      assert.deepEqual(
        seen.map((u) => [u.seq, u.aggregate.count]),
        [
          [start + 1, 1],
          [start + 2, 2],
        ],
      );
    });

    it('keeps open streams through 5 forced certificate rotations, and each new handshake sees the new serials', async () => {
      const path = `${ratingsPath('rot')}/stream`;
      const token = await s.token({ sub: 'rhea', roles: ['viewer'] });
      const longLived = [await viaEdge(token, path), await viaEdge(token, path)];
      let seq = (await longLived[0]!.next('snapshot')).seq;
      const served: string[] = [servedSerialOf(longLived[0]!)];
      const ratingSerials: string[] = [await servedSerial(s.serviceAddress('rating'), await s.pki.tls('client-alice'))];
      for (let round = 1; round <= 5; round++) {
        const summary = await withPkiLock(s.pki.layout, () => rotate(s.pki.layout, s.pki.spec, { force: true }), { wait: true });
        assert.equal(summary.ok, true, summary.errors.join('; '));
        const edgeSerial = (await readWorkloadMaterial(s.pki.layout, 'edge-us-east')).info.serial;
        const ratingSerial = (await readWorkloadMaterial(s.pki.layout, 'rating-api')).info.serial;
        const client = await s.pki.tls('client-alice');
        await waitFor(`the edge to serve ${edgeSerial}`, async () => ((await servedSerial(s.edgeAddress('us-east'), client)) === edgeSerial ? true : undefined), 20_000);
        await waitFor(`the rating API to serve ${ratingSerial}`, async () => ((await servedSerial(s.serviceAddress('rating'), client)) === ratingSerial ? true : undefined), 20_000);
        const fresh = await viaEdge(await s.token({ sub: `new-${round}`, roles: ['viewer'] }), path);
        served.push(servedSerialOf(fresh));
        ratingSerials.push(ratingSerial);
        assert.equal(served.at(-1), edgeSerial, `round ${round}: the new stream's handshake saw the new edge certificate`);
        await fresh.next('snapshot');
        // A token is bound to the client certificate it is minted for (RFC 8705), and the client's
        // certificate rotated too: the writer presents the new one, with a token bound to it.
        const writer = await s.edge('us-east');
        const post = await writer.post(ratingsPath('rot')).set('authorization', `Bearer ${await s.token({ sub: `writer-${round}` })}`).send({ score: 3 });
        assert.equal(post.status, 201, JSON.stringify(post.body));
        seq += 1;
        for (const c of [...longLived, fresh]) assert.equal((await c.next('update', { where: (u) => u.seq === seq })).seq, seq);
      }
      for (const c of longLived) {
        assert.equal(c.ws.readyState, c.ws.OPEN, 'a stream opened before the rotations is still open');
        assert.equal(c.messages.filter((m) => m.type === 'update').length, 5);
      }
      assert.equal(new Set(served).size, 6, `six handshakes, six edge serials: ${served.join(', ')}`);
      assert.equal(new Set(ratingSerials).size, 6, 'and the rating API rotated each time');
    });
  });
}

/** The serial of the certificate a stream's own TLS handshake was served. */
function servedSerialOf(c: StreamClient): string {
  const socket = (c.ws as unknown as { _socket: TLSSocket })._socket;
  return normaliseSerial(socket.getPeerCertificate().serialNumber);
}

/** The serial a new TLS connection to `at` is served. */
function servedSerial(at: Address, client: { cert: string; key: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...at, ...client }, () => {
      const serial = normaliseSerial(socket.getPeerCertificate().serialNumber);
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/** Serials as the PKI reports them: lower-case hex without leading zeros. */
function normaliseSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
