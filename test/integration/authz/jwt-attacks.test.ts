import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { readSigningKey } from '../../../src/pki/jwt-keys.js';
import { bodyOf, ALICE, givenAuthz, signedToken, standardClaims, tokenFor, xfccFor, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * The classic JWT attacks, each sent as alice through the us-east edge with a valid XFCC: every one
 * must end in a 401 with the right reason code, and none may reach the policy as a verified token.
 */
describe('authz check: JWT attacks are refused with 401', () => {
  let svc: RunningAuthz;
  let edge: { cert: string; key: string; ca: string };
  let kid: string;

  before(async () => {
    svc = await givenAuthz();
    edge = await svc.pki.tls('edge-us-east');
    kid = (await readSigningKey(svc.pki.layout)).kid;
  });

  after(async () => {
    await svc.close();
  });

  async function check(authorization: string | undefined, path = READ): Promise<request.Response> {
    let req = request(svc.url).get(path).ca(edge.ca).cert(edge.cert).key(edge.key).set('x-forwarded-client-cert', xfccFor(svc.pki, 'client-alice'));
    if (authorization !== undefined) req = req.set('authorization', authorization);
    return req;
  }

  function assert401(res: request.Response, reason: string): void {
    assert.equal(res.status, 401, res.text);
    assert.equal(bodyOf(res).error, reason);
    assert.match(String(res.headers['www-authenticate']), /^Bearer /);
    assert.equal(res.headers['x-zt-subject'], undefined);
  }

  it('accepts the genuine token the attacks are variations of', async () => {
    const res = await check(`Bearer ${await tokenFor(svc.pki, ALICE)}`);
    assert.equal(res.status, 200, res.text);
  });

  it('refuses alg none', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url(standardClaims())}.`;
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses HS256 signed with the public key as the HMAC secret', async () => {
    const jwks = JSON.parse(await readFile(svc.pki.layout.jwks, 'utf8')) as { keys: Array<{ kid: string }> };
    const jwk = jwks.keys.find((k) => k.kid === kid);
    assert.ok(jwk);
    const publicPem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [Buffer.from(publicPem), Buffer.from(JSON.stringify(jwk))]) {
      const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(secret);
      assert401(await check(`Bearer ${token}`), 'invalid_token');
    }
  });

  it('refuses a valid signature from a foreign key that claims the same kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(privateKey);
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses a token that carries its own key in the jwk header', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const token = await new SignJWT(standardClaims()).setProtectedHeader({ alg: 'ES256', jwk: await exportJWK(publicKey), typ: 'JWT' }).sign(privateKey);
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses an expired token as token_expired', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const token = await signedToken(svc.pki, standardClaims(nowS - 1200, { exp: nowS - 600 }));
    assert401(await check(`Bearer ${token}`), 'token_expired');
  });

  it('refuses a token whose nbf is in the future beyond the clock tolerance', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const token = await signedToken(svc.pki, standardClaims(nowS, { nbf: nowS + 120 }));
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses a token from another issuer', async () => {
    const token = await signedToken(svc.pki, standardClaims(undefined, { iss: 'https://evil.example' }));
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses a token for another audience', async () => {
    const token = await signedToken(svc.pki, standardClaims(undefined, { aud: 'some-other-api' }));
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses a token without exp, and one without nbf', async () => {
    const noExp = standardClaims();
    delete noExp.exp;
    assert401(await check(`Bearer ${await signedToken(svc.pki, noExp)}`), 'invalid_token');
    const noNbf = standardClaims();
    delete noNbf.nbf;
    assert401(await check(`Bearer ${await signedToken(svc.pki, noNbf)}`), 'invalid_token');
  });

  it('refuses a token whose kid is not published', async () => {
    const token = await signedToken(svc.pki, standardClaims(), { kid: 'no-such-key' });
    assert401(await check(`Bearer ${token}`), 'invalid_token');
  });

  it('refuses garbage in every shape', async () => {
    for (const garbage of ['x', 'a.b.c', '...', 'eyJhbGciOiJFUzI1NiJ9.e30.', `${'A'.repeat(40)}.${'B'.repeat(40)}.${'C'.repeat(86)}`, 'Bearer', 'tok en']) {
      assert401(await check(`Bearer ${garbage}`), 'invalid_token');
    }
  });

  it('ignores a token in the query string and answers missing_token', async () => {
    const token = await tokenFor(svc.pki, ALICE);
    const res = await check(undefined, `${READ}?access_token=${token}&token=${token}`);
    assert401(res, 'missing_token');
    const logged = JSON.stringify(svc.logs);
    assert.ok(!logged.includes(token), 'the token never reaches the log');
  });

  it('never writes a token or an Authorization header to the log', async () => {
    const token = await tokenFor(svc.pki, ALICE);
    await check(`Bearer ${token}`);
    const logged = JSON.stringify(svc.logs);
    assert.ok(!logged.includes(token.split('.')[2] ?? token));
    assert.ok(!/authorization/i.test(logged));
  });
});
