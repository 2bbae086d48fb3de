/**
 * The workload of `bench/authz.ts`: bench policy data, 1,000 users with real ES256 tokens, and a
 * seeded list of rating writes (three buckets each: global, tenant, user) with a share of denials,
 * as check requests for the service and as the equivalent policy inputs for the OPA server.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import type { PolicyData } from '../src/authz/policy/policy-data.js';
import { ClaimsSchema } from '../src/authz/jwt/claims.js';
import type { PolicyInput } from '../src/authz/policy/policy-engine.js';
import type { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { mintToken } from '../src/pki/token.js';
import { JWT_AUDIENCE, JWT_ISSUER } from '../src/shared/settings/common-settings.js';
import { edgeOf, edgeRegions, loadTopology } from '../src/shared/topology.js';
import { formatXfccElement } from '../src/shared/xfcc.js';
import type { LoadRequest } from './authz-loadgen.js';
import { prng } from '../test/helpers/prng.js';

const ISSUER = JWT_ISSUER.default ?? '';
const AUDIENCE = JWT_AUDIENCE.default ?? '';
// The regions, their edges and the trust domain, from the one topology.
const TOPOLOGY = loadTopology(fileURLToPath(new URL('../pki/workloads.yaml', import.meta.url)));
const REGIONS = edgeRegions(TOPOLOGY);
const TENANTS = 50;
const USERS = 1000;

interface User {
  readonly sub: string;
  readonly tenant: string;
  readonly region: string;
  readonly roles: string[];
  readonly token: string;
  readonly bound: boolean;
}

function clientIdOf(region: string, sub: string): string {
  return `spiffe://${TOPOLOGY.trustDomain}/${region}/client/${sub}`;
}

/** Both forms of the same requests. */
export interface Workload {
  readonly dataPath: string;
  /** Check requests for the service, as an edge sends them. */
  readonly checks: LoadRequest[];
  /** The policy inputs the service builds for those checks, as OPA REST requests. */
  readonly opa: LoadRequest[];
  /** Share of each intended outcome, for the report. */
  readonly mix: Record<string, number>;
}

function tenantName(i: number): string {
  return `t${String(i).padStart(2, '0')}`;
}

function regionOf(tenant: number): string {
  return REGIONS[tenant % REGIONS.length]!;
}

/**
 * The demo data with 50 enterprise tenants over both regions and a global bucket wide enough that
 * it does not cap the bench: the user and tenant buckets are the ones exercised. Even tenants
 * require certificate-bound tokens, odd ones the subject rule, so both checks are on the path.
 */
export async function writeBenchData(repoRoot: string, dir: string): Promise<string> {
  const data = JSON.parse(await readFile(join(repoRoot, 'policies', 'data.json'), 'utf8')) as PolicyData;
  data.limits.global = { capacity: 100_000, refill_per_s: 100_000, cost: 1 };
  data.tenants = {};
  for (let t = 0; t < TENANTS; t++) {
    data.tenants[tenantName(t)] = { home_region: regionOf(t), tier: 'enterprise', ...(t % 2 === 0 ? { require_bound_token: true } : { subject_must_match_client: true }) };
  }
  const path = join(dir, 'bench-data.json');
  await writeFile(path, JSON.stringify(data, null, 2));
  return path;
}

/** Mints the users' tokens and builds `count` requests from a seeded generator. */
export async function buildWorkload(layout: PkiLayout, dataPath: string, count: number, seed = 42): Promise<Workload> {
  const users: User[] = [];
  for (let i = 0; i < USERS; i++) {
    const t = i % TENANTS;
    const region = regionOf(t);
    const sub = `u${String(i).padStart(4, '0')}`;
    const roles = i % 25 === 0 ? ['viewer'] : ['rater'];
    // The bench's clients have no certificates of their own: the XFCC Hash an edge would send is a
    // digest of the SPIFFE ID, and a bound token is bound to that digest.
    const certSha256 = createHash('sha256').update(clientIdOf(region, sub)).digest();
    const boundTo = t % 2 === 0 ? { boundTo: certSha256.toString('base64url') } : {};
    const token = await mintToken(layout, { sub, tenant: tenantName(t), roles, region, tier: 'enterprise' }, { issuer: ISSUER, audience: AUDIENCE, ttlMs: 3_600_000, maxTtlMs: 3_600_000, ...boundTo });
    users.push({ sub, tenant: tenantName(t), region, roles, token, bound: t % 2 === 0 });
  }
  const rnd = prng(seed);
  const checks: LoadRequest[] = [];
  const opa: LoadRequest[] = [];
  const mix: Record<string, number> = {};
  for (let n = 0; n < count; n++) {
    const user = users[Math.floor(rnd() * USERS)]!;
    const r = rnd();
    // 3% cross-region (through the other region's edge), 2% into another tenant, viewers (4% of
    // users) are refused writes; the rest are writes that the buckets may still refuse.
    const kind = r < 0.03 ? 'cross_region' : r < 0.05 ? 'tenant_mismatch' : user.roles.includes('viewer') ? 'forbidden_role' : 'write';
    mix[kind] = (mix[kind] ?? 0) + 1;
    const edgeRegion = kind === 'cross_region' ? REGIONS[(REGIONS.indexOf(user.region) + 1) % REGIONS.length]! : user.region;
    let tenant = user.tenant;
    if (kind === 'tenant_mismatch') {
      const own = Number(user.tenant.slice(1));
      tenant = tenantName((own + 2) % TENANTS); // same region, another tenant
    }
    const path = `/v1/tenants/${tenant}/items/item-${Math.floor(rnd() * 500)}/ratings`;
    const edge = edgeOf(TOPOLOGY, edgeRegion).name;
    const clientId = clientIdOf(user.region, user.sub);
    const edgeId = edgeOf(TOPOLOGY, edgeRegion).spiffeId;
    const requestId = `bench-${n}`;
    const xfcc = formatXfccElement({
      by: edgeId,
      hash: createHash('sha256').update(clientId).digest('hex'),
      subject: `CN=${user.sub},O=${TOPOLOGY.trustDomain}`,
      uri: clientId,
    });
    checks.push({
      edge,
      method: 'POST',
      path: `/check${path}`,
      headers: { authorization: `Bearer ${user.token}`, 'x-forwarded-client-cert': xfcc, 'x-request-id': requestId, host: 'ratings.zt.local' },
    });
    const input: PolicyInput = {
      request: { method: 'POST', path, segments: path.split('/').filter((s) => s !== ''), query: {}, headers: { host: 'ratings.zt.local', 'x-request-id': requestId }, id: requestId },
      edge: { spiffe_id: edgeId, region: edgeRegion },
      source: { spiffe_id: clientId, region: user.region, kind: 'client', name: user.sub },
      token: { claims: ClaimsSchema.parse(decodeJwt(user.token)), bound: user.bound },
      now_ms: Date.now(),
    };
    const body = JSON.stringify({ input });
    opa.push({ edge, method: 'POST', path: '/v1/data/zt/authz/decision', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body });
  }
  for (const k of Object.keys(mix)) mix[k] = mix[k]! / count;
  return { dataPath, checks, opa, mix };
}
