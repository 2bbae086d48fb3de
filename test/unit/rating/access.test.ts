import assert from 'node:assert/strict';
import { checkRole, checkTenant } from '../../../src/rating/access.js';
import type { Caller } from '../../../src/rating/caller.js';
import { AppError } from '../../../src/shared/errors.js';

type Action = Parameters<typeof checkRole>[1];

function caller(roles: string[], subject = 'alice', tenant = 'acme'): Caller {
  return { subject, tenant, roles, client: undefined };
}

function code(fn: () => void): string {
  try {
    fn();
    return 'allowed';
  } catch (err) {
    assert.ok(err instanceof AppError);
    assert.equal(err.status, 403);
    return err.code;
  }
}

describe('access rules (defence in depth behind the policy)', () => {
  describe('checkTenant', () => {
    it('allows the caller\'s own tenant', () => {
      assert.equal(code(() => checkTenant(caller(['rater']), 'acme')), 'allowed');
    });
    it('refuses another tenant with tenant_mismatch', () => {
      assert.equal(code(() => checkTenant(caller(['rater']), 'globex')), 'tenant_mismatch');
    });
    it('refuses a caller with an empty tenant with tenant_mismatch', () => {
      assert.equal(code(() => checkTenant(caller(['moderator'], 'mod', ''), 'acme')), 'tenant_mismatch');
    });
    it('allows a platform admin any tenant, with or without a tenant of its own', () => {
      assert.equal(code(() => checkTenant(caller(['platform_admin'], 'ops', ''), 'globex')), 'allowed');
      assert.equal(code(() => checkTenant(caller(['platform_admin'], 'ops', 'acme'), 'globex')), 'allowed');
    });
  });

  describe('checkRole', () => {
    const read: Action = { kind: 'read' };
    const write: Action = { kind: 'write' };
    const delOwn: Action = { kind: 'delete', user: 'alice' };
    const delOther: Action = { kind: 'delete', user: 'bob' };
    // roles -> [read, write, delete own, delete another's], as policies/access.rego grants them
    const table: [string[], string[]][] = [
      [['viewer'], ['allowed', 'forbidden_role', 'forbidden_role', 'forbidden_role']],
      [['rater'], ['allowed', 'allowed', 'allowed', 'forbidden_role']],
      [['moderator'], ['allowed', 'forbidden_role', 'allowed', 'allowed']],
      [['platform_admin'], ['allowed', 'allowed', 'allowed', 'allowed']],
      [['viewer', 'rater'], ['allowed', 'allowed', 'allowed', 'forbidden_role']],
      [[], ['forbidden_role', 'forbidden_role', 'forbidden_role', 'forbidden_role']],
      [['Rater', 'admin'], ['forbidden_role', 'forbidden_role', 'forbidden_role', 'forbidden_role']],
    ];
    for (const [roles, expected] of table) {
      it(`gives roles [${roles.join(', ')}] read/write/delete-own/delete-other = ${expected.join('/')}`, () => {
        const c = caller(roles);
        assert.deepEqual(
          [read, write, delOwn, delOther].map((a) => code(() => checkRole(c, a))),
          expected,
        );
      });
    }
  });
});
