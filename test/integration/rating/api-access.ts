import assert from 'node:assert/strict';
import { ACME_I1, agg, assertError, rater, written, type SuiteContext } from './api-suite-context.js';
import { ALICE, MODERATOR, ratingsPath, ztHeaders, type CallerHeaders } from './rating-harness.js';

/** The caller comes from the x-zt-* headers only, and the tenant and role rules hold. */
export function ratingIdentityAndAccess(ctx: SuiteContext): void {
  const { post, read, stored, assertNothingStored } = ctx;

  describe('caller identity and access', () => {
    it('records the rating under x-zt-subject, whatever the query string says', async () => {
      const res = await ctx.api.as().post(`${ACME_I1}?user=mallory`).set(ztHeaders(rater('carol'))).send({ score: 4 });
      assert.equal(res.status, 201);
      assert.equal(written(res).user, 'carol');
      assert.equal(await stored('mallory'), undefined);
      assert.deepEqual(await stored('carol'), { score: 4 });
    });

    it('ignores an x-forwarded-client-cert naming someone else: the user is x-zt-subject', async () => {
      const res = await ctx.api
        .as()
        .post(ACME_I1)
        .set(ztHeaders(ALICE))
        .set('x-forwarded-client-cert', `By=${ctx.harness.pki().spiffeId('edge-us-east')};URI=${ctx.harness.pki().spiffeId('client-bob')}`)
        .send({ score: 2 });
      assert.equal(res.status, 201);
      assert.equal(written(res).user, 'alice');
      assert.equal(await stored('bob'), undefined);
      assert.deepEqual(await stored('alice'), { score: 2 });
    });

    it('treats the same edge with different x-zt-subject headers as different users', async () => {
      assert.equal((await post(ACME_I1, rater('u1'), { score: 1 })).status, 201);
      assert.equal((await post(ACME_I1, rater('u2'), { score: 5 })).status, 201);
      assert.equal(agg(await read(ACME_I1)).count, 2);
    });

    const missing: [string, CallerHeaders][] = [
      ['no x-zt-subject', { tenant: 'acme', roles: 'rater' }],
      ['no x-zt-tenant', { subject: 'alice', roles: 'rater' }],
      ['an empty x-zt-subject', { subject: '', tenant: 'acme', roles: 'rater' }],
      ['a malformed x-zt-subject', { subject: 'alice:admin', tenant: 'acme', roles: 'rater' }],
      ['a malformed x-zt-client', { ...ALICE, client: 'alice' }],
    ];
    for (const [what, caller] of missing) {
      it(`answers a write with ${what} with 401 missing_identity`, async () => {
        assertError(await post(ACME_I1, caller, { score: 5 }), 401, 'missing_identity');
        await assertNothingStored();
      });
    }

    it('answers a read with no identity headers with 401 missing_identity', async () => {
      assertError(await ctx.api.as().get(ACME_I1), 401, 'missing_identity');
    });

    it('refuses another tenant\'s path with 403 tenant_mismatch and stores nothing', async () => {
      assertError(await post(ratingsPath('globex', 'i1'), ALICE, { score: 5 }), 403, 'tenant_mismatch');
      assertError(await read(ratingsPath('globex', 'i1')), 403, 'tenant_mismatch');
      assert.equal(await ctx.harness.storedRecords(ctx.api), 0);
    });

    it('refuses a caller with an empty tenant and no platform_admin role with 403 tenant_mismatch', async () => {
      assertError(await post(ACME_I1, { ...ALICE, tenant: '' }, { score: 5 }), 403, 'tenant_mismatch');
      await assertNothingStored();
    });

    it('refuses a write to a viewer with 403 forbidden_role and stores nothing', async () => {
      assertError(await post(ACME_I1, { ...ALICE, roles: 'viewer' }, { score: 5 }), 403, 'forbidden_role');
      await assertNothingStored();
    });

    it('refuses a write to a moderator, who deletes but does not rate (403 forbidden_role)', async () => {
      assertError(await post(ACME_I1, MODERATOR, { score: 5 }), 403, 'forbidden_role');
      await assertNothingStored();
    });

    it('refuses a read to a caller without any role with 403 forbidden_role', async () => {
      assertError(await read(ACME_I1, { ...ALICE, roles: '' }), 403, 'forbidden_role');
    });

    // The rating API reads x-zt-roles with authz's own role parser (src/shared/roles.ts): a role is
    // exactly a role name, so a padded " platform_admin" can never be trimmed into one.
    for (const [what, roles] of [
      ['a padded platform_admin', 'rater, platform_admin'],
      ['an upper-case Platform_Admin', 'rater,Platform_Admin'],
      ['an empty entry', 'rater,,platform_admin'],
    ] as const) {
      it(`refuses x-zt-roles with ${what} with 401 missing_identity and stores nothing`, async () => {
        assertError(await post(ratingsPath('globex', 'i1'), { ...ALICE, roles }, { score: 5 }), 401, 'missing_identity');
        await assertNothingStored();
      });
    }

    it('checks identity before the body, so an unauthorised caller learns nothing about its body', async () => {
      assertError(await post(ratingsPath('globex', 'i1'), ALICE, { score: 'bad' }), 403, 'tenant_mismatch');
      const res = await ctx.api.as().post(ACME_I1).set(ztHeaders({ ...ALICE, roles: 'viewer' })).set('content-type', 'text/plain').send('x');
      assertError(res, 403, 'forbidden_role');
    });
  });

}
