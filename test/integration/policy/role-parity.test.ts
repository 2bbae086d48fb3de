import assert from 'node:assert/strict';
import { ClaimsSchema } from '../../../src/authz/jwt/claims.js';
import { loadPolicyEngine } from '../../../src/authz/policy/load-policy-engine.js';
import type { PolicyEngine } from '../../../src/authz/policy/policy-engine.js';
import { checkRole, checkTenant } from '../../../src/rating/access.js';
import { callerFrom } from '../../../src/rating/caller.js';
import { AppError } from '../../../src/shared/errors.js';
import { aliceCalls, claims, dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';

/** Role sets a token may carry: single roles, combinations, none, and names that are no role. */
const ROLE_SETS: readonly (readonly string[])[] = [
  [],
  ['viewer'],
  ['rater'],
  ['moderator'],
  ['platform_admin'],
  ['viewer', 'rater'],
  ['viewer', 'moderator'],
  ['rater', 'moderator'],
  ['auditor'],
  ['Rater'],
  ['RATER', 'viewer'],
];

/** What a caller can ask the rating API for, as the path and method the policy sees. */
const ACTIONS = [
  { name: 'read', method: 'GET', path: '/v1/tenants/acme/items/i1/ratings', action: { kind: 'read' } },
  { name: 'write', method: 'POST', path: '/v1/tenants/acme/items/i1/ratings', action: { kind: 'write' } },
  { name: 'delete own', method: 'DELETE', path: '/v1/tenants/acme/items/i1/ratings/alice', action: { kind: 'delete', user: 'alice' } },
  { name: 'delete another', method: 'DELETE', path: '/v1/tenants/acme/items/i1/ratings/bob', action: { kind: 'delete', user: 'bob' } },
] as const;

/** The rating API's verdict, given the identity headers authz would have sent. */
function ratingVerdict(headers: Record<string, string>, action: (typeof ACTIONS)[number]['action']): string {
  try {
    const caller = callerFrom(headers);
    checkTenant(caller, 'acme');
    checkRole(caller, action);
    return 'allowed';
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

/** The identity headers authz sends for alice holding `roles`, as the rating API reads them. */
function aliceHeaders(roles: readonly string[]): Record<string, string> {
  return { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': roles.join(','), 'x-zt-client': 'spiffe://zt.local/us-east/client/alice' };
}

/**
 * The role table is written twice, on purpose: once in Rego (policies/access.rego, the decision)
 * and once in the rating API (src/rating/access.ts, defence in depth behind the edge). This runs
 * every role set and action through both and requires the same verdict, so the two can never drift.
 * A role set that is no list of role names (`Rater`) never reaches the policy: authz's claims
 * schema refuses the token (invalid_token), and the rating API refuses the same names in a header
 * (missing_identity); both refusals are required.
 */
describe('the role table: the compiled policy and the rating API agree', function () {
  let policy: PolicyEngine;

  before(async function () {
    this.timeout(120_000);
    await givenBuiltPolicy();
    policy = await loadPolicyEngine({ wasmPath, dataPath });
  });

  for (const roles of ROLE_SETS) {
    for (const a of ACTIONS) {
      it(`gives roles [${roles.join(', ')}] the same verdict on ${a.name} in both places`, function () {
        if (!ClaimsSchema.safeParse(claims({ roles: [...roles] })).success) {
          assert.equal(ratingVerdict(aliceHeaders(roles), a.action), 'missing_identity');
          return;
        }
        const decision = policy.evaluate(aliceCalls(a.method, a.path, { roles: [...roles] }));
        // The rating API hears of the roles only through authz's headers; a deny never reaches it,
        // so for a deny it is asked what it would say to the same roles arriving anyway.
        const headers = decision.allow ? decision.upstream_headers : aliceHeaders(roles);
        assert.equal(ratingVerdict(headers, a.action), decision.allow ? 'allowed' : decision.reason, `policy: ${decision.reason}`);
      });
    }
  }
});
