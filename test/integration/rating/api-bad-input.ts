import assert from 'node:assert/strict';
import type { Response } from 'supertest';
import { ACME_I1, assertError, type SuiteContext } from './api-suite-context.js';
import { ADMIN, ALICE, MODERATOR, ratingsPath, ztHeaders } from './rating-harness.js';
import { rawRequest } from './raw-request.js';
import { bodyOf, errorBody } from './response-shapes.js';

/** Every kind of bad input and unknown route, each with its status, code and proof that nothing was stored. */
export function ratingBadInputAndRouting(ctx: SuiteContext): void {
  const { post, del, assertNothingStored } = ctx;

  describe('bad input (400, 413, 415) stores nothing', () => {
    const badBodies: [string, unknown, { path: string; message: string }[]][] = [
      ['a missing score', {}, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a score of 0', { score: 0 }, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a score of 6', { score: 6 }, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a fractional score', { score: 2.5 }, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a score given as a string', { score: '5' }, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a null score', { score: null }, [{ path: 'score', message: 'must be an integer from 1 to 5' }]],
      ['a comment of 501 characters', { score: 3, comment: 'x'.repeat(501) }, [{ path: 'comment', message: 'must be a string of at most 500 characters' }]],
      ['a comment that is not a string', { score: 3, comment: 42 }, [{ path: 'comment', message: 'must be a string of at most 500 characters' }]],
      ['unknown fields', { score: 3, user: 'mallory', tenant: 'globex' }, [{ path: 'user', message: 'is not a known field' }, { path: 'tenant', message: 'is not a known field' }]],
      ['a JSON array', [{ score: 3 }], [{ path: '', message: 'must be a JSON object' }]],
      ['several faults at once', { score: 9, comment: 1, extra: true }, [
        { path: 'score', message: 'must be an integer from 1 to 5' },
        { path: 'comment', message: 'must be a string of at most 500 characters' },
        { path: 'extra', message: 'is not a known field' },
      ]],
    ];
    for (const [what, body, fields] of badBodies) {
      it(`rejects ${what} with 400 invalid_request and field errors`, async () => {
        const res = assertError(await post(ACME_I1, ALICE, body), 400, 'invalid_request');
        assert.deepEqual(res.fields, fields);
        await assertNothingStored();
      });
    }

    it('rejects a JSON string body with 400 invalid_json (only objects and arrays are JSON bodies here)', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'application/json').send('"score"');
      assertError(res, 400, 'invalid_json');
      await assertNothingStored();
    });

    it('rejects malformed JSON with 400 invalid_json and no parser text', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'application/json').send('{"score": 5,');
      assert.equal(assertError(res, 400, 'invalid_json').fields, undefined);
      assert.doesNotMatch(res.text, /Unexpected|JSON\.parse|position|at /);
      await assertNothingStored();
    });

    it('rejects a JSON body with no content at all with 400 invalid_request', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'application/json');
      assertError(res, 400, 'invalid_request');
      await assertNothingStored();
    });

    it('rejects a body over 16 KiB with 413 payload_too_large', async () => {
      const res = await post(ACME_I1, ALICE, { score: 3, comment: 'x'.repeat(17 * 1024) });
      assertError(res, 413, 'payload_too_large');
      await assertNothingStored();
    });

    it('accepts a body just under 16 KiB as far as size goes (then validates it)', async () => {
      const body = JSON.stringify({ score: 3, pad: 'x'.repeat(16 * 1024 - 40) });
      assert.ok(Buffer.byteLength(body) < 16 * 1024);
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'application/json').send(body);
      assert.deepEqual(assertError(res, 400, 'invalid_request').fields, [{ path: 'pad', message: 'is not a known field' }]);
    });

    it('rejects a text/plain body with 415 unsupported_media_type', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'text/plain').send('{"score":5}');
      assertError(res, 415, 'unsupported_media_type');
      await assertNothingStored();
    });

    it('rejects a form-encoded body with 415 unsupported_media_type', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).type('form').send({ score: '5' });
      assertError(res, 415, 'unsupported_media_type');
      await assertNothingStored();
    });

    it('rejects a body without a content type with 415 unsupported_media_type', async () => {
      const pem = await ctx.harness.pki().tls('edge-us-east');
      const res = await rawRequest(ctx.api.port, pem, { method: 'POST', path: ACME_I1, headers: ztHeaders(ALICE), body: '{"score":5}' });
      assert.equal(res.status, 415);
      assert.equal(errorBody.parse(JSON.parse(res.body)).error, 'unsupported_media_type');
      await assertNothingStored();
    });

    it('rejects a gzip-encoded JSON body with 415 unsupported_media_type', async () => {
      const pem = await ctx.harness.pki().tls('edge-us-east');
      const { gzipSync } = await import('node:zlib');
      const res = await rawRequest(ctx.api.port, pem, {
        method: 'POST',
        path: ACME_I1,
        headers: { ...ztHeaders(ALICE), 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync('{"score":5}'),
      });
      assert.equal(res.status, 415);
      assert.equal(errorBody.parse(JSON.parse(res.body)).error, 'unsupported_media_type');
      await assertNothingStored();
    });

    it('rejects a JSON body in a charset other than UTF-8 with 415 unsupported_media_type', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('content-type', 'application/json; charset=latin1').send('{"score":5}');
      assertError(res, 415, 'unsupported_media_type');
      await assertNothingStored();
    });

    const badPaths: [string, string, string[]][] = [
      ['an upper-case tenant', ratingsPath('ACME', 'i1'), ['tenant']],
      ['an item with a colon', ratingsPath('acme', 'i%3A1'), ['item']],
      ['an item starting with a dot', ratingsPath('acme', '.hidden'), ['item']],
      ['an item of 65 characters', ratingsPath('acme', 'i'.repeat(65)), ['item']],
      ['an encoded slash in the item', ratingsPath('acme', 'a%2Fb'), ['item']],
    ];
    for (const [what, path, fields] of badPaths) {
      it(`rejects ${what} in the path with 400 invalid_request naming the parameter`, async () => {
        const res = assertError(await post(path, { ...ADMIN }, { score: 5 }), 400, 'invalid_request');
        assert.deepEqual(res.fields?.map((f) => f.path), fields);
        assert.match(res.fields?.[0]?.message ?? '', /^must be 1-64 characters/);
        await assertNothingStored();
      });
    }

    it('rejects a bad user in a delete path with 400 invalid_request', async () => {
      const res = assertError(await del(ratingsPath('acme', 'i1', 'Alice'), MODERATOR), 400, 'invalid_request');
      assert.deepEqual(res.fields?.map((f) => f.path), ['user']);
    });

    it('answers a path that does not percent-decode with 400 invalid_request', async () => {
      const res = await post(ratingsPath('acme', 'i%E0%A4%A'), ALICE, { score: 5 });
      assertError(res, 400, 'invalid_request');
      await assertNothingStored();
    });
  });

  describe('routing', () => {
    for (const path of ['/', '/v1/tenants/acme/items/i1', '/v1/tenants/acme/items/i1/ratings/alice/extra', '/V1/tenants/acme/items/i1/ratings', '/v1/tenants/acme/items/i1/ratings/', '/metrics']) {
      it(`answers 404 not_found for ${path}`, async () => {
        assertError(await post(path, ALICE, { score: 5 }), 404, 'not_found');
        await assertNothingStored();
      });
    }

    const wrongMethods: [string, string, string][] = [
      ['put', ACME_I1, 'GET, HEAD, POST'],
      ['patch', ACME_I1, 'GET, HEAD, POST'],
      ['delete', ACME_I1, 'GET, HEAD, POST'],
      ['get', ratingsPath('acme', 'i1', 'alice'), 'DELETE'],
      ['post', ratingsPath('acme', 'i1', 'alice'), 'DELETE'],
      ['post', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of wrongMethods) {
      it(`answers ${method.toUpperCase()} ${path} with 405 method_not_allowed and Allow: ${allow}`, async () => {
        const client = ctx.api.as();
        const res = await (client[method as 'put'](path).set(ztHeaders(ALICE)).send({ score: 5 }) as Promise<Response>);
        assertError(res, 405, 'method_not_allowed');
        assert.equal(res.headers.allow, allow);
        await assertNothingStored();
      });
    }

    it('serves GET /healthz on the mTLS listener to an edge', async () => {
      const res = await ctx.api.as().get('/healthz');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok' });
    });

    it('echoes the edge\'s x-request-id in the header and the error body', async () => {
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('x-request-id', 'req-123').send({ score: 0 });
      assert.equal(res.headers['x-request-id'], 'req-123');
      assert.equal(bodyOf(errorBody, res).request_id, 'req-123');
    });

    it('makes up a request id when the edge sent none or a malformed one', async () => {
      const res = await ctx.api.as().get('/nope').set('x-request-id', 'bad id\twith spaces');
      const id = bodyOf(errorBody, res).request_id;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(res.headers['x-request-id'], id);
    });
  });

}
