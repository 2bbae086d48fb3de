import assert from 'node:assert/strict';
import { ACME_I1, agg, assertError, rater, written, type SuiteContext } from './api-suite-context.js';
import { ADMIN, ALICE, MODERATOR, ratingsPath, ztHeaders } from './rating-harness.js';

/** Creates, replaces, reads, deletes, concurrency and the logs of writes. */
export function ratingWritesAndReads(ctx: SuiteContext): void {
  const { post, read, del, stored } = ctx;

  describe('writes and reads', () => {
    it('creates the caller\'s rating with 201 and returns it with the aggregate', async () => {
      const res = await post(ACME_I1, ALICE, { score: 4, comment: 'solid' });
      assert.equal(res.status, 201);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.deepEqual(res.body, {
        item: 'i1',
        user: 'alice',
        score: 4,
        comment: 'solid',
        created: true,
        seq: 1,
        aggregate: { count: 1, average: 4, histogram: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 0 } },
      });
      assert.deepEqual(await stored('alice'), { score: 4, comment: 'solid' });
    });

    it('replaces the caller\'s rating with 200 and moves the aggregate from the old score to the new', async () => {
      assert.equal((await post(ACME_I1, ALICE, { score: 2, comment: 'meh' })).status, 201);
      assert.equal((await post(ACME_I1, rater('carol'), { score: 5 })).status, 201);
      const res = await post(ACME_I1, ALICE, { score: 5 });
      assert.equal(res.status, 200);
      const body = written(res);
      assert.equal(body.created, false);
      assert.equal(body.comment, undefined, 'a replacement without a comment drops the old one');
      assert.deepEqual(body.aggregate, { count: 2, average: 5, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 2 } });
      assert.deepEqual(await stored('alice'), { score: 5 });
    });

    it('returns the exact count, full-precision average and histogram of an item', async () => {
      for (const [user, score] of [['u1', 5], ['u2', 4], ['u3', 4], ['u4', 1]] as const) {
        assert.equal((await post(ACME_I1, rater(user), { score })).status, 201);
      }
      const res = await read(ACME_I1);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { item: 'i1', count: 4, average: 14 / 4, histogram: { '1': 1, '2': 0, '3': 0, '4': 2, '5': 1 } });
      await post(ACME_I1, rater('u5'), { score: 5 });
      assert.equal(agg(await read(ACME_I1)).average, 19 / 5);
    });

    it('answers an item nobody rated with a zero count, a null average and an empty histogram', async () => {
      const res = await read(ratingsPath('acme', 'never-rated'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { item: 'never-rated', count: 0, average: null, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });
    });

    it('keeps items and tenants apart', async () => {
      await post(ACME_I1, ALICE, { score: 5 });
      await post(ratingsPath('acme', 'i2'), ALICE, { score: 1 });
      await post(ratingsPath('globex', 'i1'), ADMIN, { score: 3 });
      assert.deepEqual(agg(await read(ACME_I1)).histogram, { '1': 0, '2': 0, '3': 0, '4': 0, '5': 1 });
      assert.deepEqual(agg(await read(ratingsPath('acme', 'i2'))).histogram, { '1': 1, '2': 0, '3': 0, '4': 0, '5': 0 });
      assert.equal(agg(await read(ratingsPath('globex', 'i1'), ADMIN)).count, 1);
    });

    it('accepts a comment of exactly 500 characters', async () => {
      const res = await post(ACME_I1, ALICE, { score: 3, comment: 'x'.repeat(500) });
      assert.equal(res.status, 201);
      assert.equal(written(res).comment?.length, 500);
    });
  });

  describe('deletes', () => {
    it('deletes a rating with 204 and takes its score out of the aggregate', async () => {
      await post(ACME_I1, ALICE, { score: 2 });
      await post(ACME_I1, rater('carol'), { score: 4 });
      const res = await del(ratingsPath('acme', 'i1', 'alice'), MODERATOR);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.deepEqual((await read(ACME_I1)).body, { item: 'i1', count: 1, average: 4, histogram: { '1': 0, '2': 0, '3': 0, '4': 1, '5': 0 } });
      assert.equal(await stored('alice'), undefined);
    });

    it('leaves nothing stored once the last rating of an item is deleted', async () => {
      await post(ACME_I1, ALICE, { score: 2 });
      assert.equal((await del(ratingsPath('acme', 'i1', 'alice'), MODERATOR)).status, 204);
      assert.equal(await ctx.harness.storedRecords(ctx.api), 0);
      assert.deepEqual((await read(ACME_I1)).body, { item: 'i1', count: 0, average: null, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });
    });

    it('answers 404 not_found for a rating that does not exist and changes nothing', async () => {
      await post(ACME_I1, rater('carol'), { score: 4 });
      assertError(await del(ratingsPath('acme', 'i1', 'alice'), MODERATOR), 404, 'not_found');
      assert.equal(agg(await read(ACME_I1)).count, 1);
      assert.equal(ctx.api.logs.withMsg('rating_deleted').length, 0);
    });

    it('lets a rater delete their own rating but not another user\'s (403 forbidden_role)', async () => {
      await post(ACME_I1, ALICE, { score: 2 });
      await post(ACME_I1, rater('carol'), { score: 4 });
      assertError(await del(ratingsPath('acme', 'i1', 'carol'), ALICE), 403, 'forbidden_role');
      assert.equal(agg(await read(ACME_I1)).count, 2);
      assert.equal((await del(ratingsPath('acme', 'i1', 'alice'), ALICE)).status, 204);
      assert.equal(agg(await read(ACME_I1)).count, 1);
    });

    it('refuses a delete to a viewer with 403 forbidden_role', async () => {
      await post(ACME_I1, ALICE, { score: 2 });
      assertError(await del(ratingsPath('acme', 'i1', 'alice'), { ...ALICE, subject: 'vic', roles: 'viewer' }), 403, 'forbidden_role');
      assert.equal(agg(await read(ACME_I1)).count, 1);
    });

    it('lets a platform admin without a tenant delete in any tenant', async () => {
      await post(ACME_I1, ALICE, { score: 2 });
      assert.equal((await del(ratingsPath('acme', 'i1', 'alice'), ADMIN)).status, 204);
      assert.equal(agg(await read(ACME_I1)).count, 0);
    });
  });

  describe('concurrency', () => {
    it('counts exactly 50 ratings with the exact sum when 50 raters write one item at once', async () => {
      const scores = Array.from({ length: 50 }, (_, i) => (i % 5) + 1);
      const results = await Promise.all(scores.map((score, i) => post(ACME_I1, rater(`user-${i}`), { score })));
      assert.deepEqual(results.map((r) => r.status), scores.map(() => 201));
      const res = agg(await read(ACME_I1));
      assert.equal(res.count, 50);
      assert.equal(res.average, 150 / 50);
      assert.deepEqual(res.histogram, { '1': 10, '2': 10, '3': 10, '4': 10, '5': 10 });
      assert.deepEqual(await ctx.api.store.aggregate({ tenant: 'acme', item: 'i1' }), { count: 50, sum: 150, histogram: { '1': 10, '2': 10, '3': 10, '4': 10, '5': 10 } });
    });

    it('loses no update when 50 raters replace their ratings while 50 others create theirs', async () => {
      await Promise.all(Array.from({ length: 50 }, (_, i) => post(ACME_I1, rater(`old-${i}`), { score: 1 })));
      const replace = Array.from({ length: 50 }, (_, i) => post(ACME_I1, rater(`old-${i}`), { score: 5 }));
      const create = Array.from({ length: 50 }, (_, i) => post(ACME_I1, rater(`new-${i}`), { score: 3 }));
      const [replaced, created] = await Promise.all([Promise.all(replace), Promise.all(create)]);
      assert.ok(replaced.every((r) => r.status === 200));
      assert.ok(created.every((r) => r.status === 201));
      assert.deepEqual(await ctx.api.store.aggregate({ tenant: 'acme', item: 'i1' }), { count: 100, sum: 50 * 5 + 50 * 3, histogram: { '1': 0, '2': 0, '3': 50, '4': 0, '5': 50 } });
    });

    it('reports exactly one create when one user sends 20 ratings at once', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post(ACME_I1, ALICE, { score: (i % 5) + 1 })));
      assert.equal(results.filter((r) => r.status === 201).length, 1);
      assert.equal(results.filter((r) => r.status === 200).length, 19);
      const agg = await ctx.api.store.aggregate({ tenant: 'acme', item: 'i1' });
      const survivor = await stored('alice');
      assert.equal(agg.count, 1);
      assert.equal(agg.sum, survivor?.score, 'the aggregate holds exactly the surviving rating');
    });
  });

  describe('logs', () => {
    it('logs rating_written with tenant, item, subject, score and created, and never the comment', async () => {
      await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('x-request-id', 'log-1').send({ score: 4, comment: 'secret words' });
      await post(ACME_I1, ALICE, { score: 2 });
      const lines = ctx.api.logs.withMsg('rating_written');
      assert.equal(lines.length, 2);
      assert.deepEqual(
        lines.map((l) => [l.tenant, l.item, l.subject, l.score, l.created]),
        [
          ['acme', 'i1', 'alice', 4, true],
          ['acme', 'i1', 'alice', 2, false],
        ],
      );
      assert.equal(lines[0]?.request_id, 'log-1');
      assert.equal(lines[0]?.service, 'rating');
      assert.doesNotMatch(JSON.stringify(ctx.api.logs.lines()), /secret words/);
    });

    it('logs rating_deleted with tenant, item, subject and user', async () => {
      await post(ACME_I1, ALICE, { score: 4 });
      await del(ratingsPath('acme', 'i1', 'alice'), MODERATOR);
      const lines = ctx.api.logs.withMsg('rating_deleted');
      assert.equal(lines.length, 1);
      assert.deepEqual([lines[0]?.tenant, lines[0]?.item, lines[0]?.subject, lines[0]?.user], ['acme', 'i1', 'mod', 'alice']);
    });

    it('logs a rejected request with its reason code and request id', async () => {
      await ctx.api.as().post(ACME_I1).set(ztHeaders(ALICE)).set('x-request-id', 'rej-1').send({ score: 0 });
      const line = ctx.api.logs.withMsg('request_rejected').find((l) => l.request_id === 'rej-1');
      assert.equal(line?.code, 'invalid_request');
      assert.equal(line?.status, 400);
    });
  });

  describe('a plain path and the same path percent-encoded', () => {
    // A plain .../ratings path goes straight to its handler; an encoded one is routed and decoded by
    // Express first. Both must answer alike, head and body.
    const ENCODED = '/v1/tenants/%61cme/items/%69%31/ratings';
    const head = (res: { status: number; headers: Record<string, string> }): unknown => {
      const { date: _date, 'x-request-id': _id, ...rest } = res.headers;
      return { status: res.status, ...rest };
    };

    it('answers a write and a read the same way', async () => {
      // Two raters with names of one length, so that the two answers have one length too.
      const plain = await post(ACME_I1, rater('amy'), { score: 4 });
      const encoded = await post(ENCODED, rater('bob'), { score: 4 });
      assert.deepEqual(head(encoded), head(plain));
      assert.deepEqual({ ...written(encoded), user: 'amy', seq: 1, aggregate: written(plain).aggregate }, written(plain));
      const [a, b] = [await read(ACME_I1), await read(ENCODED)];
      assert.deepEqual([head(b), b.text], [head(a), a.text]);
      const [ha, hb] = [await ctx.api.as().head(ACME_I1).set(ztHeaders(ALICE)), await ctx.api.as().head(ENCODED).set(ztHeaders(ALICE))];
      assert.deepEqual(head(hb), head(ha));
      assert.equal(ha.headers['content-length'], a.headers['content-length']);
    });

    it('answers a conditional read the same way', async () => {
      await post(ACME_I1, ALICE, { score: 4 });
      const conditional = (path: string) => ctx.api.as().get(path).set(ztHeaders(ALICE)).set('if-none-match', '*');
      const [a, b] = [await conditional(ACME_I1), await conditional(ENCODED)];
      assert.deepEqual([head(b), b.text], [head(a), a.text]);
    });

    it('answers a read with a query string as the router does', async () => {
      const [a, b] = [await read(`${ACME_I1}?x=1`), await read(`${ENCODED}?x=1`)];
      assert.equal(a.status, 200);
      assert.deepEqual([head(b), b.text], [head(a), a.text]);
    });
  });
}
