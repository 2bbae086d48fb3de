import assert from 'node:assert/strict';
import request from 'supertest';
import { bodyOf, BOB, CLIENT_CERT_SHA256, givenAuthz, signedToken, standardClaims, TestClock, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';
const GLOBEX_READ = '/check/v1/tenants/globex/items/i1/ratings';
const HOUR = 3600;

/**
 * The token rules beyond jose's signature check, straight at the policy service as an edge calls
 * it: lifetimes bounded by JWT_MAX_TTL (the PKI's jwt.max_token_ttl, 1 h), certificate-bound tokens
 * (RFC 8705 cnf x5t#S256 against the XFCC Hash), the per-tenant subject rule, role names read by the
 * one shared parser, and the tenant's tier winning over a tier claim. Every refusal is a 401
 * `invalid_token` whose challenge carries an error_description. The clock is fixed, so exact
 * boundaries are exact.
 */
describe('authz check: token lifetimes, certificate binding, the subject rule, roles and tiers', () => {
  let svc: RunningAuthz;
  let edge: { cert: string; key: string; ca: string };
  let euEdge: { cert: string; key: string; ca: string };
  const clock = new TestClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const nowS = (): number => Math.floor(clock.ms / 1000);

  before(async () => {
    svc = await givenAuthz({ clock });
    edge = await svc.pki.tls('edge-us-east');
    euEdge = await svc.pki.tls('edge-eu-central');
  });
  after(async () => svc?.close());

  async function check(token: string, opts: { path?: string; client?: string; certSha256?: string; viaEu?: boolean } = {}): Promise<request.Response> {
    const via = opts.viaEu === true ? euEdge : edge;
    const xfcc = xfccFor(svc.pki, opts.client ?? 'client-alice', opts.viaEu === true ? 'edge-eu-central' : 'edge-us-east', opts.certSha256);
    return request(svc.url).get(opts.path ?? READ).ca(via.ca).cert(via.cert).key(via.key).set('x-forwarded-client-cert', xfcc).set('authorization', `Bearer ${token}`);
  }

  function assertInvalid(res: request.Response, description: RegExp): void {
    assert.equal(res.status, 401, res.text);
    assert.equal(bodyOf(res).error, 'invalid_token');
    const challenge = String(res.headers['www-authenticate']);
    assert.match(challenge, /^Bearer error="invalid_token", error_description="[^"]+"$/);
    assert.match(challenge, description);
    assert.equal(res.headers['x-zt-subject'], undefined);
  }

  const signed = (extra: Record<string, unknown>): Promise<string> => signedToken(svc.pki, standardClaims(nowS(), extra));

  describe('lifetimes', () => {
    it('passes a token that lives exactly the maximum TTL, issued now', async () => {
      const res = await check(await signed({ iat: nowS(), nbf: nowS(), exp: nowS() + HOUR }));
      assert.equal(res.status, 200, res.text);
    });

    const refused: Array<[string, () => Record<string, unknown>, RegExp]> = [
      ['exp at now + 2 h with iat now', () => ({ iat: nowS(), exp: nowS() + 2 * HOUR }), /lives longer than the 3600 s allowed/],
      ['exp ten years out', () => ({ iat: nowS(), exp: nowS() + 10 * 365 * 24 * HOUR }), /lives longer than the 3600 s allowed/],
      ['exp: 1e308', () => ({ iat: nowS(), exp: 1e308 }), /lives longer than the 3600 s allowed/],
      ['iat an hour in the future', () => ({ iat: nowS() + HOUR, nbf: nowS(), exp: nowS() + HOUR + 60 }), /issued in the future/],
      ['no iat at all', () => ({ iat: undefined }), /has no iat/],
      ['one second more than the maximum TTL', () => ({ iat: nowS(), exp: nowS() + HOUR + 1 }), /lives longer than the 3600 s allowed/],
      ['an old iat that keeps exp - iat short but exp far out', () => ({ iat: nowS() - 100, exp: nowS() + HOUR + 60 }), /lives longer|expires more than 3600 s from now/],
    ];
    for (const [what, claims, description] of refused) {
      it(`refuses a token with ${what} with 401 invalid_token and a description`, async () => {
        assertInvalid(await check(await signed(claims())), description);
      });
    }

    it('tolerates an issuer clock a few seconds ahead (JWT_CLOCK_TOLERANCE_S), and no more', async () => {
      assert.equal((await check(await signed({ iat: nowS() + 4, nbf: nowS(), exp: nowS() + 4 + 600 }))).status, 200);
      assertInvalid(await check(await signed({ iat: nowS() + 6, nbf: nowS(), exp: nowS() + 6 + 600 })), /issued in the future/);
    });

    it('keeps token_expired for a token whose exp has passed, with its description', async () => {
      const res = await check(await signed({ iat: nowS() - 700, nbf: nowS() - 700, exp: nowS() - 100 }));
      assert.equal(res.status, 401);
      assert.equal(bodyOf(res).error, 'token_expired');
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="the token has expired"');
    });
  });

  describe('certificate-bound tokens (RFC 8705)', () => {
    it('passes a bound token presented with its own certificate', async () => {
      const res = await check(await tokenFor(svc.pki, undefined, new Date(clock.ms)));
      assert.equal(res.status, 200, res.text);
    });

    it('refuses a bound token presented with another certificate, saying what to do', async () => {
      const other = 'ab'.repeat(32);
      assertInvalid(await check(await tokenFor(svc.pki, undefined, new Date(clock.ms)), { certSha256: other }), /bound to another client certificate.*mint a new token/);
    });

    it('refuses a bound token when the edge named no certificate hash', async () => {
      const xfcc = `By=${svc.pki.spiffeId('edge-us-east')};URI=${svc.pki.spiffeId('client-alice')}`;
      const res = await request(svc.url).get(READ).ca(edge.ca).cert(edge.cert).key(edge.key).set('x-forwarded-client-cert', xfcc).set('authorization', `Bearer ${await tokenFor(svc.pki, undefined, new Date(clock.ms))}`);
      assertInvalid(res, /the edge named none/);
    });

    it('refuses an unbound token for acme, a tenant that requires binding', async () => {
      assertInvalid(await check(await tokenFor(svc.pki, undefined, new Date(clock.ms), 600_000, null)), /this tenant requires a token bound to your client certificate/);
    });

    it('refuses a confirmation it cannot check, and a malformed thumbprint', async () => {
      assertInvalid(await check(await signed({ cnf: { jkt: 'x'.repeat(43) } })), /confirmation method this service does not check/);
      assertInvalid(await check(await signed({ cnf: { 'x5t#S256': 'not-a-thumbprint' } })), /cnf claim/);
    });

    it('passes an unbound token for globex, a tenant that does not require binding', async () => {
      const res = await check(await tokenFor(svc.pki, BOB, new Date(clock.ms), 600_000, null), { path: GLOBEX_READ, client: 'client-bob', viaEu: true });
      assert.equal(res.status, 200, res.text);
    });

    it('checks a bound token against its certificate for any tenant, globex included', async () => {
      const bob = await tokenFor(svc.pki, BOB, new Date(clock.ms));
      assert.equal((await check(bob, { path: GLOBEX_READ, client: 'client-bob', viaEu: true })).status, 200);
      assertInvalid(await check(bob, { path: GLOBEX_READ, client: 'client-bob', viaEu: true, certSha256: 'ab'.repeat(32) }), /bound to another client certificate/);
    });
  });

  describe('the subject rule (globex: a token names the user its client certificate names)', () => {
    it("refuses bob's token presented with carol's certificate, bound or not", async () => {
      const unbound = await tokenFor(svc.pki, BOB, new Date(clock.ms), 600_000, null);
      const carol = svc.pki.spiffeId('client-bob').replace('/bob', '/carol');
      const xfcc = `By=${svc.pki.spiffeId('edge-eu-central')};Hash=${CLIENT_CERT_SHA256};Subject="CN=carol";URI=${carol}`;
      for (const token of [unbound, await tokenFor(svc.pki, BOB, new Date(clock.ms))]) {
        const res = await request(svc.url).get(GLOBEX_READ).ca(euEdge.ca).cert(euEdge.cert).key(euEdge.key).set('x-forwarded-client-cert', xfcc).set('authorization', `Bearer ${token}`);
        assertInvalid(res, /subject is not the user your client certificate names/);
      }
    });

    it("lets acme, which has no subject rule, take a bound token for carol from alice's certificate", async () => {
      const res = await check(await tokenFor(svc.pki, { sub: 'carol', tenant: 'acme', roles: ['viewer'], region: 'us-east', tier: 'free' }, new Date(clock.ms)));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-zt-subject'], 'carol');
    });
  });

  describe('role names (src/shared/roles.ts, the parser the rating API reads x-zt-roles with)', () => {
    for (const roles of [[' platform_admin'], ['rater', 'platform_admin '], ['Platform_Admin'], ['rater,moderator'], ['']]) {
      it(`refuses a token whose roles are ${JSON.stringify(roles)} with 401 invalid_token`, async () => {
        assertInvalid(await check(await signed({ roles })), /roles claim holds an entry that is not a role name/);
      });
    }
  });

  describe('tiers', () => {
    it("charges acme's tier from data.json (free) whatever tier the token claims, and logs that tier", async () => {
      const res = await check(await tokenFor(svc.pki, { sub: 'tiered', tenant: 'acme', roles: ['viewer'], region: 'us-east', tier: 'enterprise' }, new Date(clock.ms)));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['x-ratelimit-limit'], '60', 'the free tier: 60 a minute');
      const line = svc.decisions().find((d) => d.request_id === res.headers['x-request-id']);
      assert.equal(line?.tier, 'free');
    });
  });
});
