import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { MemoryRatingFeed } from '../../../src/rating/feed/rating-feed-memory.js';
import { mintToken } from '../../../src/pki/token.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { isRefusal, StreamClient, type StreamTarget } from '../../helpers/stream-client.js';
import { waitFor } from '../../helpers/wait-for.js';
import { ALICE, MODERATOR, ratingsPath, startApi, ztHeaders, type CallerHeaders, type RunningApi } from './rating-harness.js';
import { RecordingStore } from './recording-store.js';

/**
 * The rating stream on the rating API itself, spoken to as an edge speaks to it (the edge's
 * certificate, the x-zt-* headers authz would have set, the token the edge forwards): everything
 * the API decides about a stream, without an edge or authz in the way. test/e2e/rating-stream.test.ts
 * runs the acceptance cases through both edges.
 */
const STREAM = `${ratingsPath('acme', 'i1')}/stream`;
const VIEWER: CallerHeaders = { ...ALICE, subject: 'vera', roles: 'viewer' };
const LIMITS = {
  RATING_STREAM_MSG_BURST: '8',
  RATING_STREAM_MSG_PER_S: '2',
  RATING_STREAM_MAX_PER_SUBJECT: '3',
  RATING_STREAM_EXPIRY_GRACE_MS: '500',
  RATING_STREAM_SEND_BUFFER_BYTES: '65536',
};

describe('the rating stream on the rating API (as an edge calls it)', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let api: RunningApi;
  let edge: { cert: string; key: string; ca: string };
  let at: StreamTarget;
  let feed: MemoryRatingFeed;
  const open: StreamClient[] = [];

  before(async () => {
    pki = await givenPki();
    edge = await pki.tls('edge-us-east');
  });
  after(async () => {
    await pki.cleanup();
  });
  beforeEach(async () => {
    feed = new MemoryRatingFeed();
    api = await startApi(pki, new RecordingStore((key, change) => feed.publish(key, change)), LIMITS, feed);
    at = { host: '127.0.0.1', port: api.port, servername: 'localhost' };
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await api.close();
  });

  async function token(caller: CallerHeaders, ttlMs = 600_000): Promise<string> {
    return mintToken(pki.layout, { sub: caller.subject ?? 'x', tenant: caller.tenant ?? 'acme', roles: (caller.roles ?? '').split(','), region: 'us-east', tier: 'enterprise' }, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs, maxTtlMs: 3600_000 });
  }

  async function headersOf(caller: CallerHeaders, ttlMs?: number): Promise<Record<string, string>> {
    return { ...ztHeaders(caller), authorization: `Bearer ${await token(caller, ttlMs)}`, 'x-forwarded-client-cert': `By=${pki.spiffeId('edge-us-east')};URI=${caller.client ?? ''}` };
  }

  async function stream(caller: CallerHeaders, options: { path?: string; ttlMs?: number; protocols?: string[] } = {}): Promise<StreamClient> {
    const c = await StreamClient.connect(at, options.path ?? STREAM, { ...edge, headers: await headersOf(caller, options.ttlMs), ...(options.protocols ? { protocols: options.protocols } : {}) });
    open.push(c);
    return c;
  }

  it('sends the aggregate at once, then one update per change in order: a REST write and a socket publish', async () => {
    const viewer = await stream(VIEWER);
    const first = await viewer.next('snapshot');
    assert.deepEqual(first, {
      type: 'snapshot',
      tenant: 'acme',
      item: 'i1',
      seq: 0,
      aggregate: { count: 0, average: null, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } },
      expires_at: first.expires_at,
      resync: false,
    });
    const rest = await api.as().post(ratingsPath('acme', 'i1')).set(ztHeaders(ALICE)).send({ score: 4 });
    assert.equal(rest.status, 201);
    assert.equal((rest.body as { seq: number }).seq, 1);
    const bob = await stream({ ...ALICE, subject: 'bob' });
    await bob.next('snapshot');
    bob.send({ type: 'rate', id: 'r-1', score: 2, comment: 'meh' });
    const result = await bob.next('result');
    assert.equal(result.ref, 'r-1');
    assert.equal(result.status, 201);
    assert.equal(result.rating?.user, 'bob');
    assert.equal(result.rating?.seq, 2);
    const updates = [await viewer.next('update'), await viewer.next('update', { where: (u) => u.seq === 2 })];
    assert.deepEqual(
      updates.map((u) => [u.seq, u.change, u.aggregate.count, u.aggregate.average]),
      [
        [1, 'created', 1, 4],
        [2, 'created', 2, 3],
      ],
    );
  });

  it('re-reads the item and sends a snapshot marked resync when the sequence jumps, then carries on from it', async () => {
    const viewer = await stream(VIEWER);
    await viewer.next('snapshot');
    await api.store.put({ tenant: 'acme', item: 'i1' }, 'alice', { score: 5 });
    assert.equal((await viewer.next('update')).seq, 1);
    // A change whose predecessors never arrived (as when a Redis connection was lost meanwhile).
    feed.publish({ tenant: 'acme', item: 'i1' }, { seq: 7, change: 'created', aggregate: { count: 9, sum: 9, histogram: { '1': 9, '2': 0, '3': 0, '4': 0, '5': 0 } } });
    const resync = await viewer.next('snapshot', { where: (m) => m.resync });
    assert.deepEqual([resync.seq, resync.aggregate.count], [1, 1], 'the store\'s own state, not the stray change');
    await api.store.put({ tenant: 'acme', item: 'i1' }, 'bob', { score: 1 });
    assert.equal((await viewer.next('update', { where: (u) => u.seq === 2 })).aggregate.count, 2);
    assert.ok(api.logs.withMsg('stream_resync').length === 1);
  });

  it('selects zt-ratings.v1 when a browser offers it with bearer.<token>, never echoing the token', async () => {
    const { authorization, ...headers } = await headersOf(VIEWER);
    const c = await StreamClient.connect(at, STREAM, { ...edge, headers, protocols: ['zt-ratings.v1', `bearer.${authorization?.slice(7) ?? ''}`] });
    open.push(c);
    assert.equal(c.ws.protocol, 'zt-ratings.v1');
    assert.equal(c.upgradeHeaders?.['sec-websocket-protocol'], 'zt-ratings.v1');
    assert.match(String(c.upgradeHeaders?.['x-request-id']), /.+/);
  });

  it('refuses a handshake that offers subprotocols but not zt-ratings.v1 with 400 and the field', async () => {
    const r = await StreamClient.open(at, STREAM, { ...edge, headers: await headersOf(VIEWER), protocols: ['chat'] });
    assert.ok(isRefusal(r));
    assert.equal(r.status, 400);
    assert.equal(r.error, 'invalid_request');
    assert.match(r.body, /sec-websocket-protocol/);
  });

  it('answers a GET of the stream path without an upgrade with 426 upgrade_required', async () => {
    const res = await api.as().get(STREAM).set(await headersOf(VIEWER));
    assert.equal(res.status, 426);
    assert.equal((res.body as { error: string }).error, 'upgrade_required');
    assert.equal(res.headers.upgrade, 'websocket');
  });

  it('refuses a client certificate with 403 untrusted_peer before any upgrade', async () => {
    const r = await StreamClient.open(at, STREAM, { ...(await pki.tls('client-alice')), headers: await headersOf(VIEWER) });
    assert.ok(isRefusal(r));
    assert.equal(r.status, 403);
    assert.equal(r.error, 'untrusted_peer');
  });

  it('refuses another tenant with 403 tenant_mismatch before any upgrade', async () => {
    const r = await StreamClient.open(at, `${ratingsPath('globex', 'i1')}/stream`, { ...edge, headers: await headersOf(VIEWER) });
    assert.ok(isRefusal(r));
    assert.equal(r.status, 403);
    assert.equal(r.error, 'tenant_mismatch');
  });

  it('closes a viewer that publishes with 4003 and logs the denied publish', async () => {
    const viewer = await stream(VIEWER);
    await viewer.next('snapshot');
    viewer.send({ type: 'rate', id: 'nope', score: 5 });
    const closed = await viewer.waitClosed();
    assert.equal(closed.code, 4003);
    assert.match(closed.reason, /^forbidden_role/);
    const denied = api.logs.withMsg('stream_publish_denied');
    assert.equal(denied.length, 1);
    assert.equal(denied[0]?.subject, 'vera');
    assert.equal(denied[0]?.client_spiffe_id, VIEWER.client);
    assert.equal(denied[0]?.reason, 'forbidden_role');
    assert.equal((await api.store.aggregate({ tenant: 'acme', item: 'i1' })).count, 0);
  });

  it('lets a moderator delete over the socket: 204, and an update with change deleted', async () => {
    await api.as().post(ratingsPath('acme', 'i1')).set(ztHeaders(ALICE)).send({ score: 1 });
    const mod = await stream(MODERATOR);
    assert.equal((await mod.next('snapshot')).seq, 1);
    mod.send({ type: 'delete', id: 'd1', user: 'alice' });
    assert.deepEqual(await mod.next('result'), { type: 'result', ref: 'd1', status: 204 });
    const update = await mod.next('update');
    assert.deepEqual([update.seq, update.change, update.aggregate.count], [2, 'deleted', 0]);
    mod.send({ type: 'delete', id: 'd2', user: 'alice' });
    assert.deepEqual(await mod.next('error'), { type: 'error', ref: 'd2', error: 'not_found' });
  });

  it('answers an invalid message with field errors and stays open', async () => {
    const c = await stream(ALICE);
    await c.next('snapshot');
    c.send({ type: 'rate', id: 'bad', score: 9, colour: 'red' });
    const error = await c.next('error');
    assert.equal(error.ref, 'bad');
    assert.equal(error.error, 'invalid_request');
    assert.deepEqual(error.fields?.map((f) => f.path).sort(), ['colour', 'score']);
    c.send({ type: 'launch', id: 'x' });
    assert.deepEqual((await c.next('error', { where: (e) => e.ref === 'x' })).fields?.map((f) => f.path), ['type']);
    c.send({ type: 'ping', id: 'p' });
    assert.deepEqual(await c.next('pong'), { type: 'pong', ref: 'p' });
  });

  it('closes with 1003 on a frame that is not JSON, and on a binary frame', async () => {
    const a = await stream(ALICE);
    a.send('{not json');
    assert.equal((await a.waitClosed()).code, 1003);
    const b = await stream(ALICE);
    b.ws.send(Buffer.from('{"type":"ping","id":"p"}'), { binary: true });
    assert.equal((await b.waitClosed()).code, 1003);
  });

  it('admits the bucket (8) within one, then sends rate_limited, then closes with 1008', async () => {
    const c = await stream(ALICE);
    await c.next('snapshot');
    for (let i = 0; i < 30; i++) c.send({ type: 'ping', id: `p${i}` });
    const closed = await c.waitClosed();
    assert.equal(closed.code, 1008);
    const pongs = c.messages.filter((m) => m.type === 'pong').length;
    assert.ok(Math.abs(pongs - 8) <= 1, `${pongs} pongs for a bucket of 8`);
    const errors = c.messages.filter((m) => m.type === 'error');
    assert.deepEqual(errors.map((e) => e.type === 'error' && e.error), ['rate_limited']);
  });

  it('closes with 1009 on a 1 MiB frame and stores nothing', async () => {
    const c = await stream(ALICE);
    await c.next('snapshot');
    c.send(JSON.stringify({ type: 'rate', id: 'big', score: 5, comment: 'x'.repeat(1024 * 1024) }));
    assert.equal((await c.waitClosed()).code, 1009);
    assert.equal((await api.store.aggregate({ tenant: 'acme', item: 'i1' })).count, 0);
  });

  it('admits 3 streams per subject and refuses the 4th with 429 too_many_streams until one closes', async () => {
    const three = [await stream(VIEWER), await stream(VIEWER), await stream(VIEWER)];
    const r = await StreamClient.open(at, STREAM, { ...edge, headers: await headersOf(VIEWER) });
    assert.ok(isRefusal(r));
    assert.equal(r.status, 429);
    assert.equal(r.error, 'too_many_streams');
    assert.ok(await stream({ ...VIEWER, subject: 'other' }), 'another subject is not held back');
    await three[0]?.close();
    await waitFor('a free slot', async () => {
      const again = await StreamClient.open(at, STREAM, { ...edge, headers: await headersOf(VIEWER) });
      if (isRefusal(again)) return undefined;
      open.push(again);
      return true;
    });
  });

  it('closes with 4001 once the token has expired and the grace has passed', async () => {
    const c = await stream(VIEWER, { ttlMs: 2000 });
    const snapshot = await c.next('snapshot');
    const closed = await c.waitClosed();
    const at = Date.now();
    const due = Date.parse(snapshot.expires_at) + 500;
    assert.equal(closed.code, 4001);
    assert.ok(at >= due && at - due < 1000, `closed ${at - due} ms after exp + grace`);
  });

  it('logs one line when a stream opens and one when it closes, with subject, client, item, code and duration', async () => {
    const c = await stream(VIEWER);
    await c.next('snapshot');
    await c.close();
    await waitFor('the close line', () => api.logs.withMsg('stream').find((l) => l.event === 'closed'));
    const [opened, closed] = api.logs.withMsg('stream');
    assert.equal(opened?.event, 'opened');
    for (const line of [opened, closed]) {
      assert.equal(line?.subject, 'vera');
      assert.equal(line?.client_spiffe_id, VIEWER.client);
      assert.equal(line?.item, 'i1');
      assert.equal(line?.tenant, 'acme');
    }
    assert.equal(closed?.close_code, 1000);
    assert.equal(closed?.closed_by, 'client');
    assert.equal(typeof closed?.duration_ms, 'number');
    assert.equal(closed?.open_streams, 0);
    assert.ok(!JSON.stringify(api.logs.lines()).includes('eyJ'), 'no token in the logs');
  });

  it('closes a consumer that reads nothing with 1013 once its send buffer is full, holding no more than the bound', async () => {
    const slow = await stream(VIEWER);
    await slow.next('snapshot');
    // Stop reading: the kernel buffers fill, then the server's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const key = { tenant: 'acme', item: 'i1' };
    for (let i = 0; i < 10_000; i++) {
      await api.store.put(key, `u${i % 500}`, { score: ((i % 5) + 1) as 1 | 2 | 3 | 4 | 5 });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.waitClosed(20_000);
    assert.equal(closed.code, 1013);
    const line = await waitFor('the close line', () => api.logs.withMsg('stream').find((l) => l.event === 'closed'));
    assert.equal(line.close_code, 1013);
    assert.ok(Number(line.unread_bytes) <= 65_536, `${String(line.unread_bytes)} unread bytes`);
    assert.ok(Number(line.buffered_bytes) <= 65_536 + 200, `${String(line.buffered_bytes)} bytes queued`);
  });

  it('closes every stream with 1001 when the service stops', async () => {
    const c = await stream(VIEWER);
    await c.next('snapshot');
    await api.close();
    assert.equal((await c.waitClosed()).code, 1001);
    // A second close in afterEach is harmless.
    const socket = connect({ host: '127.0.0.1', port: at.port });
    await new Promise((resolve) => socket.once('error', resolve));
  });
});
