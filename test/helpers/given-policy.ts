/**
 * Fixtures for the policy tests, the policy service tests and the authz bench: the real compiled
 * policy (built on demand) and request inputs for the demo identities, whose SPIFFE IDs come from
 * the topology (pki/workloads.yaml). alice is an acme rater on a us-east client calling the us-east
 * edge.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Claims } from '../../src/authz/jwt/claims.js';
import type { PolicyInput } from '../../src/authz/policy/policy-engine.js';
import { edgeOf, loadTopology } from '../../src/shared/topology.js';
import { policyStaleness } from '../../src/stack/policy-build.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const topology = loadTopology(join(repoRoot, 'pki', 'workloads.yaml'));
export const policiesDir = join(repoRoot, 'policies');
export const wasmPath = join(policiesDir, 'build', 'policy.wasm');
export const dataPath = join(policiesDir, 'data.json');

/**
 * Runs `scripts/build-policy.ts` when policies/build/policy.wasm is missing or older than any
 * policy .rego file (the stack's own freshness rule), so the tests always exercise the policy as it
 * is on disk.
 */
export async function givenBuiltPolicy(): Promise<void> {
  if ((await policyStaleness(policiesDir, wasmPath)) === undefined) return;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'build-policy.ts')], { cwd: repoRoot });
}

/** The edge of `region`, as the service reads it from the edge's certificate. */
export function edge(region: string): PolicyInput['edge'] {
  return { spiffe_id: edgeOf(topology, region).spiffeId, region };
}

/** A client workload of `region` called `name` (SPIFFE path `/<region>/client/<name>`). */
export function client(region: string, name: string): NonNullable<PolicyInput['source']> {
  return { spiffe_id: `spiffe://${topology.trustDomain}/${region}/client/${name}`, region, kind: 'client', name };
}

export function request(method: string, path: string): PolicyInput['request'] {
  return {
    method,
    path,
    segments: path.split('/').filter((s) => s !== ''),
    query: {},
    headers: { host: 'ratings.zt.local' },
    id: 'req-1',
  };
}

export function claims(overrides: Partial<Claims> = {}): Claims {
  return {
    sub: 'alice',
    tenant: 'acme',
    roles: ['rater'],
    region: 'us-east',
    tier: 'free',
    iss: 'https://idp.zt.local',
    aud: 'rating-api',
    iat: 1767225500,
    nbf: 1767225500,
    exp: 1767226100,
    ...overrides,
  };
}

/** alice rating item i1 of acme, with any top-level part replaced. */
export function aliceInput(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    request: request('POST', '/v1/tenants/acme/items/i1/ratings'),
    edge: edge('us-east'),
    source: client('us-east', 'alice'),
    token: { claims: claims(), bound: true },
    now_ms: 1767225600000,
    ...overrides,
  };
}

/** alice's identity and token making another request. */
export function aliceCalls(method: string, path: string, claimOverrides: Partial<Claims> = {}): PolicyInput {
  return aliceInput({ request: request(method, path), token: { claims: claims(claimOverrides), bound: true } });
}
