import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { REASONS } from '../../../src/shared/errors.js';
import { BOB, EdgeClient, givenAuthz, tokenFor, xfccFor, type CheckResponse, type RunningAuthz } from './given-authz.js';
import { prng } from '../../helpers/prng.js';

class Garbage {
  constructor(private readonly rnd: () => number) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Characters Node lets a client put in a header value: tab, printable ASCII and 0x80-0xff. */
  headerValue(max: number): string {
    let s = '';
    const n = this.int(max);
    for (let i = 0; i < n; i++) {
      const r = this.rnd();
      s += r < 0.05 ? '\t' : r < 0.8 ? String.fromCharCode(0x20 + this.int(0x5f)) : String.fromCharCode(0x80 + this.int(0x80));
    }
    return s;
  }

  xfcc(pki: RunningAuthz['pki']): string {
    const parts = ['By=', 'Hash=', 'URI=', 'uri=', 'Subject=', 'DNS=', 'Cert=', 'Chain=', 'Foo=', '"', '\\"', '\\', ',', ';', '=', ' ', 'spiffe://zt.local/us-east/client/alice', 'spiffe://zt.local/eu-central/edge/envoy', 'spiffe://', 'zt.local', '%2C'];
    // Half the time a well-formed element (maybe behind a forged one), so later stages are reached.
    const good = xfccFor(pki, this.pick(['client-alice', 'client-bob']));
    if (this.int(2) === 0) return this.int(4) === 0 ? `URI=${this.pick(parts)},${good}` : good;
    let s = this.int(4) === 0 ? good : '';
    const n = this.int(12);
    for (let i = 0; i < n; i++) s += this.int(5) === 0 ? this.headerValue(6) : this.pick(parts);
    return s;
  }

  token(valid: string): string {
    switch (this.int(6)) {
      case 5:
        return valid;
      case 0: {
        const i = this.int(valid.length);
        return valid.slice(0, i) + String.fromCharCode(0x21 + this.int(0x5e)) + valid.slice(i + 1);
      }
      case 1:
        return `${Buffer.from(JSON.stringify({ alg: this.pick(['none', 'HS256', 'ES256', 'RS256', '', 'ES256K']), kid: this.headerValue(8) })).toString('base64url')}.${Buffer.from(this.headerValue(40), 'latin1').toString('base64url')}.${this.headerValue(20)}`;
      case 2:
        return valid.split('.').reverse().join('.');
      default:
        return this.headerValue(200);
    }
  }

  path(): string {
    const segments = ['v1', 'tenants', 'acme', 'globex', 'items', 'i1', 'ratings', 'alice', '..', '.', '%2e%2e', '%00', '%ff', '%', '%zz', '', '~', '%C3%28'];
    let p = '/check';
    if (this.int(2) === 0) {
      // The rating API's shape with one part swapped, so that the policy sees near misses.
      const shape = ['v1', 'tenants', this.pick(['acme', 'globex', 'initech']), 'items', this.pick(['i1', 'public-1', 'shared-2']), 'ratings', ...(this.int(3) === 0 ? ['alice'] : [])];
      shape[this.int(shape.length)] = this.pick(segments);
      p += `/${shape.join('/')}`;
    } else {
      const n = this.int(9);
      for (let i = 0; i < n; i++) p += `/${this.int(6) === 0 ? encodeURIComponent(this.headerValue(5)) : this.pick(segments)}`;
    }
    // Raw bytes above 0x7f in the request line: Node's parser refuses them before the app.
    if (this.int(50) === 0) p += this.pick(['/é', '/\u00ff']);
    if (this.int(3) === 0) p += `?${this.pick(['a=1', 'a=1&a=2', '__proto__=x', 'constructor[prototype]=1', '%ff=%fe', '=', '&&', 'access_token=x'])}`;
    if (this.int(20) === 0) p = this.pick(['/', '/check', '/checkx', '/check?', '//check', '/check/../check']);
    return p;
  }
}

const KNOWN_ERRORS: ReadonlySet<string> = new Set([...REASONS, 'not_found']);

function assertOrderly(res: CheckResponse, what: string, method: string): void {
  assert.ok(res.status < 500, `${what}: status ${res.status}`);
  if (res.status === 200) return;
  // Node's HTTP parser answers a request line it cannot parse (raw 0x80-0xff in the path) with a
  // bare 400 before any app code runs; everything the app answers carries a request id.
  if (res.status === 400 && res.headers['x-request-id'] === undefined) return;
  assert.equal(res.headers['content-type'], 'application/json', what);
  if (method === 'HEAD') return; // no body to a HEAD
  const body = res.json();
  assert.ok(KNOWN_ERRORS.has(String(body.error)), `${what}: error ${String(body.error)}`);
}

/**
 * Sends raw bytes over mTLS (for what an HTTP client refuses to send) and reads one response. The
 * socket is not half-closed before the answer: the server would take that as the end of the
 * connection and drop a check still waiting on its token verification.
 */
function rawExchange(port: number, tls: { cert: string; key: string; ca: string }, bytes: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'authz', ...tls }, () => socket.write(bytes));
    let text = '';
    const done = (): void => {
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length >= end + 4 + length) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', done);
  });
}

/**
 * Bad input never crashes the service, never yields a 5xx, and the next request is answered
 * normally. Inputs come from a seeded generator; the seed is in the test name for replay.
 */
describe('authz check: bad input', () => {
  const SEED = 20261122;
  let svc: RunningAuthz;
  let edge: EdgeClient;
  let euEdge: EdgeClient;
  let valid: string;
  let bob: string;

  before(async () => {
    svc = await givenAuthz({ env: { LOG_LEVEL: 'warn' } });
    edge = await EdgeClient.create(svc);
    euEdge = await EdgeClient.create(svc, 'edge-eu-central');
    valid = await tokenFor(svc.pki);
    bob = await tokenFor(svc.pki, BOB);
  });

  after(async () => {
    edge.close();
    euEdge.close();
    await svc.close();
  });

  async function normalRequestIsAnswered(): Promise<void> {
    const res = await euEdge.check('GET', '/check/v1/tenants/globex/items/i1/ratings', {
      authorization: `Bearer ${bob}`,
      'x-forwarded-client-cert': xfccFor(svc.pki, 'client-bob', 'edge-eu-central'),
    });
    assert.equal(res.status, 200, res.body);
  }

  it(`answers 10,000 garbage headers, XFCC strings and paths (seed ${SEED}) without a 5xx`, async function () {
    this.timeout(180_000);
    const g = new Garbage(prng(SEED));
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
    const TOTAL = 10_000;
    const BATCH = 16;
    const outcomes = new Map<string, number>();
    let sent = 0;
    while (sent < TOTAL) {
      const batch: Array<Promise<void>> = [];
      for (let i = 0; i < BATCH && sent < TOTAL; i++, sent++) {
        const headers: Record<string, string> = {};
        if (g.int(4) !== 0) headers.authorization = g.pick(['Bearer ', 'bearer ', 'Bearer  ', 'Basic ', '', 'Bearer\t']) + g.token(valid);
        if (g.int(4) !== 0) headers['x-forwarded-client-cert'] = g.xfcc(svc.pki);
        if (g.int(2) === 0) headers['x-request-id'] = g.headerValue(g.int(3) === 0 ? 300 : 40);
        if (g.int(3) === 0) headers['content-type'] = g.headerValue(30);
        if (g.int(4) === 0) headers.host = g.headerValue(30) || 'x';
        if (g.int(8) === 0) headers['x-zt-subject'] = g.headerValue(20);
        const method = g.pick(methods);
        const path = g.path();
        const what = `#${sent} ${method} ${JSON.stringify(path)} ${JSON.stringify(headers)}`;
        batch.push(
          edge.check(method, path, headers).then((res) => {
            assertOrderly(res, what, method);
            const outcome = res.status === 200 ? 'allowed' : method === 'HEAD' || res.headers['x-request-id'] === undefined ? String(res.status) : String(res.json().error);
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          }),
        );
      }
      await Promise.all(batch);
      if (sent % 2000 === 0) await normalRequestIsAnswered();
    }
    await normalRequestIsAnswered();
    // The generator reaches deep enough to hit the identity, token and policy stages alike.
    for (const reached of ['allowed', 'no_client_cert', 'missing_token', 'invalid_token', 'cross_region', 'tenant_mismatch', 'forbidden_role', 'not_found']) {
      assert.ok((outcomes.get(reached) ?? 0) > 0, `no input reached ${reached}: ${JSON.stringify([...outcomes])}`);
    }
  });

  it('answers an 8 KiB token with 401 invalid_token, and a header past the limit with 431', async () => {
    const xfcc = xfccFor(svc.pki, 'client-alice');
    const big = await edge.check('GET', '/check/v1/tenants/acme/items/i1/ratings', { authorization: `Bearer ${'a'.repeat(8 * 1024)}`, 'x-forwarded-client-cert': xfcc });
    assert.equal(big.status, 401);
    assert.equal(big.json().error, 'invalid_token');
    const [head, payload] = valid.split('.');
    const padded = await edge.check('GET', '/check/v1/tenants/acme/items/i1/ratings', {
      authorization: `Bearer ${head}.${payload}${'A'.repeat(8 * 1024)}.sig`,
      'x-forwarded-client-cert': xfcc,
    });
    assert.equal(padded.status, 401);
    assert.equal(padded.json().error, 'invalid_token');
    const huge = await rawExchange(
      svc.port,
      await svc.pki.tls('edge-us-east'),
      Buffer.from(`GET /check/v1/tenants/acme/items/i1/ratings HTTP/1.1\r\nhost: authz\r\nauthorization: Bearer ${'a'.repeat(20 * 1024)}\r\n\r\n`, 'latin1'),
    );
    assert.equal(huge.status, 431);
    await normalRequestIsAnswered();
  });

  it('answers non-UTF-8 bytes in the path and header values without a 5xx', async () => {
    const tls = await svc.pki.tls('edge-us-east');
    const xfcc = xfccFor(svc.pki, 'client-alice');
    const requests = [
      Buffer.concat([Buffer.from('GET /check/v1/tenants/'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(`/items/i1/ratings HTTP/1.1\r\nhost: authz\r\nauthorization: Bearer ${valid}\r\nx-forwarded-client-cert: ${xfcc}\r\n\r\n`)]),
      Buffer.concat([Buffer.from('GET /check/v1/tenants/acme/items/i1/ratings HTTP/1.1\r\nhost: authz\r\nx-forwarded-client-cert: URI=spiffe://zt.local/us-east/client/al'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`ice\r\nauthorization: Bearer ${valid}\r\n\r\n`)]),
      Buffer.concat([Buffer.from('GET /check/v1/tenants/acme/items/i1/ratings HTTP/1.1\r\nhost: authz\r\nauthorization: Bearer '), Buffer.from([0xff, 0xfe, 0x2e, 0x80, 0x2e, 0x81]), Buffer.from(`\r\nx-forwarded-client-cert: ${xfcc}\r\n\r\n`)]),
      Buffer.concat([Buffer.from('POST /check/v1/tenants/acme/items/i1/ratings HTTP/1.1\r\nhost: '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(`\r\nx-request-id: `), Buffer.from([0xf0, 0x28, 0x8c, 0xbc]), Buffer.from(`\r\nauthorization: Bearer ${valid}\r\nx-forwarded-client-cert: ${xfcc}\r\n\r\n`)]),
      Buffer.concat([Buffer.from('GET /check/'), Buffer.from([0x00, 0x01, 0x7f]), Buffer.from(' HTTP/1.1\r\nhost: authz\r\n\r\n')]),
    ];
    for (const [i, bytes] of requests.entries()) {
      const res = await rawExchange(svc.port, tls, bytes);
      assert.ok(res.status >= 200 && res.status < 500, `request ${i}: ${res.text.split('\r\n')[0]}`);
    }
    await normalRequestIsAnswered();
  });
});
