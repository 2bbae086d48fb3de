import assert from 'node:assert/strict';
import { policyInput, type CheckFacts } from '../../../src/authz/policy-input.js';
import { parseSpiffeId } from '../../../src/shared/spiffe.js';

const edge = parseSpiffeId('spiffe://zt.local/us-east/edge/envoy');
const source = parseSpiffeId('spiffe://zt.local/us-east/client/alice');

function facts(headers: CheckFacts['headers']): CheckFacts {
  if (edge === undefined || source === undefined) throw new Error('test SPIFFE IDs do not parse');
  return { method: 'GET', target: { path: '/v1/tenants/acme/items/i1/ratings', rawQuery: '' }, headers, requestId: 'r1', edge, source, claims: undefined, bound: false, nowMs: 0 };
}

describe('policy input', () => {
  it('gives the policy the request host of an HTTP/1.1 check (Host)', () => {
    assert.deepEqual(policyInput(facts({ host: 'ratings.zt.local', 'x-request-id': 'r1', authorization: 'Bearer t' })).request.headers, { host: 'ratings.zt.local', 'x-request-id': 'r1' });
  });

  it('gives the policy the request host of an HTTP/2 check, which comes as :authority and has no Host', () => {
    assert.deepEqual(policyInput(facts({ ':authority': 'ratings.zt.local', ':method': 'GET', 'content-length': '0' })).request.headers, { host: 'ratings.zt.local', 'content-length': '0' });
  });
});
