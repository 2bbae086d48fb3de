import assert from 'node:assert/strict';
import { callerFrom } from '../../../src/rating/caller.js';
import { AppError } from '../../../src/shared/errors.js';

function missingIdentity(err: unknown): boolean {
  return err instanceof AppError && err.code === 'missing_identity' && err.status === 401;
}

describe('callerFrom (x-zt-* headers)', () => {
  it('reads subject, tenant, roles and client', () => {
    assert.deepEqual(
      callerFrom({ 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater,viewer', 'x-zt-client': 'spiffe://zt.local/us-east/client/alice' }),
      { subject: 'alice', tenant: 'acme', roles: ['rater', 'viewer'], client: 'spiffe://zt.local/us-east/client/alice' },
    );
  });


  it('gives no roles when x-zt-roles is absent or empty', () => {
    assert.deepEqual(callerFrom({ 'x-zt-subject': 'a', 'x-zt-tenant': 'acme' }).roles, []);
    assert.deepEqual(callerFrom({ 'x-zt-subject': 'a', 'x-zt-tenant': 'acme', 'x-zt-roles': '' }).roles, []);
  });

  it('accepts the empty tenant authz sends for a platform admin without one', () => {
    assert.equal(callerFrom({ 'x-zt-subject': 'ops', 'x-zt-tenant': '', 'x-zt-roles': 'platform_admin' }).tenant, '');
  });

  it('leaves the client undefined when the edge sent none', () => {
    assert.equal(callerFrom({ 'x-zt-subject': 'a', 'x-zt-tenant': 'acme' }).client, undefined);
  });

  const bad: [string, Record<string, string>][] = [
    ['no subject', { 'x-zt-tenant': 'acme' }],
    ['no tenant header', { 'x-zt-subject': 'alice' }],
    ['an empty subject', { 'x-zt-subject': '', 'x-zt-tenant': 'acme' }],
    ['a subject with a colon', { 'x-zt-subject': 'a:b', 'x-zt-tenant': 'acme' }],
    ['a subject of 65 characters', { 'x-zt-subject': 'a'.repeat(65), 'x-zt-tenant': 'acme' }],
    ['a subject joined from two headers', { 'x-zt-subject': 'alice, bob', 'x-zt-tenant': 'acme' }],
    ['an upper-case tenant', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'ACME' }],
    ['a client that is not a SPIFFE ID', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-client': 'CN=alice' }],
    // Roles are read exactly as authz writes them (src/shared/roles.ts); nothing is trimmed into a role.
    ['a padded role', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater, platform_admin' }],
    ['an empty role entry', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater,,moderator' }],
    ['a trailing comma', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater,' }],
    ['an upper-case role', { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'Platform_Admin' }],
  ];
  for (const [what, headers] of bad) {
    it(`throws 401 missing_identity for ${what}`, () => {
      assert.throws(() => callerFrom(headers), missingIdentity);
    });
  }
});
