import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { JwksFileSource } from '../../../src/authz/jwt/jwks-file-source.js';
import type { KeySource } from '../../../src/authz/jwt/key-source.js';
import { readSigningKey } from '../../../src/pki/jwt-keys.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { runScript } from '../../helpers/run-script.js';
import { bodyOf, ALICE, EdgeClient, givenAuthz, TestClock, tokenFor, xfccFor, type CheckResponse, type RunningAuthz } from './given-authz.js';

const READ = '/check/v1/tenants/acme/items/i1/ratings';

async function eventually(what: string, probe: () => boolean | Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function read(edge: EdgeClient, pki: TestPki, token: string): Promise<CheckResponse> {
  return edge.check('GET', READ, { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfccFor(pki, 'client-alice') });
}

describe('authz check: JWT keys and the verified-token cache', () => {
  describe('with JWKS_FILE', () => {
    let svc: RunningAuthz;
    let edge: EdgeClient;

    before(async () => {
      svc = await givenAuthz();
      edge = await EdgeClient.create(svc);
    });

    after(async () => {
      edge.close();
      await svc.close();
    });

    it('picks up a rotated signing key from the JWKS file without a restart', async function () {
      this.timeout(90_000); // rotate-certs runs as a child process through tsx
      const oldToken = await tokenFor(svc.pki, ALICE);
      assert.equal((await read(edge, svc.pki, oldToken)).status, 200);
      const oldKid = (await readSigningKey(svc.pki.layout)).kid;

      const rotated = await runScript('rotate-certs', ['--force-jwt', '--dir', svc.pki.dir, '--config', svc.pki.configFile]);
      assert.equal(rotated.code, 0, rotated.stderr);
      const newKid = (await readSigningKey(svc.pki.layout)).kid;
      assert.notEqual(newKid, oldKid);

      // The watcher reloads the file by itself, before any token asks for the new key.
      await eventually('the JWKS reload', () => svc.logs.some((l) => l.msg === 'JWKS reloaded' && Array.isArray(l.kids) && l.kids.includes(newKid)));
      const newToken = await tokenFor(svc.pki, ALICE);
      const res = await read(edge, svc.pki, newToken);
      assert.equal(res.status, 200, res.body);
      assert.equal((await read(edge, svc.pki, oldToken)).status, 200, 'the previous key stays published');
    });
  });

  describe('with an injected clock', () => {
    let pki: TestPki;
    let svc: RunningAuthz;
    let edge: EdgeClient;
    let lookups = 0;
    const clock = new TestClock();

    before(async () => {
      pki = await givenPki();
      const real = (await JwksFileSource.load(pki.layout.jwks)).watch();
      // The real file source, counting how often jose asks it for a key (once per signature check).
      const counting: KeySource = {
        kind: real.kind,
        getKey: (header, token) => {
          lookups++;
          return real.getKey(header, token);
        },
        isReady: () => real.isReady(),
        refresh: () => real.refresh(),
        onChange: (listener) => real.onChange(listener),
        close: () => real.close(),
      };
      svc = await givenAuthz({ pki, clock, env: { JWT_CLOCK_TOLERANCE_S: '0' }, deps: { keys: counting } });
      edge = await EdgeClient.create(svc);
    });

    after(async () => {
      edge.close();
      await svc.close();
      await pki.cleanup();
    });

    it('serves a repeat token from the cache until exp, and never at or after exp', async () => {
      const now = new Date(clock.nowMs());
      const token = await tokenFor(pki, ALICE, now, 600_000);
      const expMs = (Math.floor(now.getTime() / 1000) + 600) * 1000;

      assert.equal((await read(edge, pki, token)).status, 200);
      assert.equal(lookups, 1);

      clock.ms = expMs - 1;
      assert.equal((await read(edge, pki, token)).status, 200);
      assert.equal(lookups, 1, 'a cache hit checks no signature');

      clock.ms = expMs;
      const expired = await read(edge, pki, token);
      assert.equal(expired.status, 401);
      assert.equal(expired.json().error, 'token_expired');
      assert.equal(lookups, 2, 'past exp the token went back to jose');

      // The dead entry is gone: with the clock back before exp, the token is verified afresh once,
      // then served from the cache again.
      clock.ms = expMs - 1;
      assert.equal((await read(edge, pki, token)).status, 200);
      assert.equal(lookups, 3, 'the expired entry was dropped, not kept');
      assert.equal((await read(edge, pki, token)).status, 200);
      assert.equal(lookups, 3, 'and the fresh verification is cached');
    });
  });

  describe('with JWKS_URL', () => {
    let pki: TestPki;
    let idp: Server;
    let jwks: string;
    let serveKeys = true;

    before(async () => {
      pki = await givenPki();
      jwks = await readFile(pki.layout.jwks, 'utf8');
      // A stand-in identity provider: a plain server publishing the PKI's real JWKS.
      idp = createServer((req, res) => {
        if (!serveKeys || req.url !== '/.well-known/jwks.json') {
          res.writeHead(503).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      });
      await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    });

    after(async () => {
      idp.closeAllConnections();
      await new Promise<void>((resolve) => idp.close(() => resolve()));
      await pki.cleanup();
    });

    it('verifies tokens against the keys fetched from the URL', async () => {
      serveKeys = true;
      const url = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;
      const svc = await givenAuthz({ pki, env: { JWKS_URL: url, JWKS_FILE: '/nonexistent/jwks.json' } });
      const edge = await EdgeClient.create(svc);
      try {
        assert.equal(svc.deps.keys.kind, 'url');
        const ready = await request(`http://127.0.0.1:${svc.adminPort}`).get('/readyz');
        assert.equal(ready.status, 200);
        const res = await read(edge, pki, await tokenFor(pki, ALICE));
        assert.equal(res.status, 200, res.body);
      } finally {
        edge.close();
        await svc.close();
      }
    });

    it('is not ready and refuses tokens while the URL serves no keys', async () => {
      serveKeys = false;
      const url = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;
      const svc = await givenAuthz({ pki, env: { JWKS_URL: url } });
      const edge = await EdgeClient.create(svc);
      try {
        const ready = await request(`http://127.0.0.1:${svc.adminPort}`).get('/readyz');
        assert.equal(ready.status, 503);
        assert.deepEqual(bodyOf(ready).failing, ['keys']);
        const res = await read(edge, pki, await tokenFor(pki, ALICE));
        assert.equal(res.status, 401);
        assert.equal(res.json().error, 'invalid_token');
      } finally {
        edge.close();
        await svc.close();
      }
    });
  });
});
