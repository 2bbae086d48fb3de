/**
 * The workload of `bench/edge.ts`: bench policy data with 50 tenants, 1,000 users with real ES256
 * tokens, and a seeded, write-heavy request mix with about 8% denials, as vegeta JSON targets.
 *
 * Every request comes through one client certificate (vegeta presents one), so every tenant
 * requires certificate-bound tokens and every token is bound (cnf x5t#S256) to that certificate:
 * the binding check is on the path for every request. The denials are the policy's own: viewers
 * writing (forbidden_role), a path in another tenant (tenant_mismatch) and tokens whose region claim
 * is not the edge's (cross_region).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicyData } from '../src/authz/policy/policy-data.js';
import { mintToken } from '../src/pki/token.js';
import type { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { JWT_AUDIENCE, JWT_ISSUER } from '../src/shared/settings/common-settings.js';
import { prng } from '../test/helpers/prng.js';

export const ISSUER = JWT_ISSUER.default ?? '';
export const AUDIENCE = JWT_AUDIENCE.default ?? '';
const TENANTS = 50;
const USERS = 1000;
/** Share of requests that write a rating; the rest read an item's aggregate. */
const WRITE_SHARE = 0.85;
/** Share of requests into another tenant than the token's. */
const OTHER_TENANT_SHARE = 0.025;

/** One bench user. */
export interface EdgeUser {
  readonly sub: string;
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly token: string;
  /** The token's region claim; not the edge's for 2% of users, whose every request is refused. */
  readonly region: string;
}

const tenantName = (i: number): string => `t${String(i).padStart(2, '0')}`;

/**
 * The shipped policy data with 50 enterprise tenants homed in `region` (the benched edge's), every
 * bucket raised so that the figures are the path's and not the limits': returns the file and a line
 * per raised limit, for the report.
 */
export async function writeEdgeBenchData(repoRoot: string, dir: string, region: string): Promise<{ path: string; raised: string[] }> {
  const data = JSON.parse(await readFile(join(repoRoot, 'policies', 'data.json'), 'utf8')) as PolicyData;
  const raised: string[] = [];
  for (const [name, l] of Object.entries(data.limits)) {
    if (!('capacity' in l)) continue;
    raised.push(`policy bucket ${name}: ${l.capacity} (${l.refill_per_s}/s) -> 1e7 (1e7/s)`);
    Object.assign(l, { capacity: 1e7, refill_per_s: 1e7 });
  }
  for (const [name, t] of Object.entries(data.tiers)) {
    raised.push(`policy tier ${name}: ${t.per_minute}/min -> 6e8/min`);
    t.per_minute = 6e8;
  }
  data.tenants = {};
  for (let t = 0; t < TENANTS; t++) data.tenants[tenantName(t)] = { home_region: region, tier: 'enterprise', require_bound_token: true };
  const path = join(dir, 'edge-bench-data.json');
  await writeFile(path, JSON.stringify(data, null, 2));
  return { path, raised };
}

/** Mints the 1,000 users' tokens, each bound to the bench client's certificate (`boundTo`, x5t#S256). */
export async function mintEdgeUsers(layout: PkiLayout, opts: { edgeRegion: string; otherRegion: string; boundTo: string; maxTtlMs: number }): Promise<EdgeUser[]> {
  const users: EdgeUser[] = [];
  for (let i = 0; i < USERS; i++) {
    const sub = `u${String(i).padStart(4, '0')}`;
    const tenant = tenantName(i % TENANTS);
    const roles = i % 25 === 0 ? ['viewer'] : ['rater'];
    const region = i % 50 === 7 ? opts.otherRegion : opts.edgeRegion;
    const token = await mintToken(layout, { sub, tenant, roles, region, tier: 'enterprise' }, { issuer: ISSUER, audience: AUDIENCE, ttlMs: opts.maxTtlMs, maxTtlMs: opts.maxTtlMs, boundTo: opts.boundTo });
    users.push({ sub, tenant, roles, token, region });
  }
  return users;
}

/** The request mix a targets file holds, by what the policy should answer. */
export type Mix = Record<'write' | 'read' | 'forbidden_role' | 'tenant_mismatch' | 'cross_region', number>;

/**
 * `count` vegeta JSON targets against `https://localhost` (vegeta's -connect-to picks the stack),
 * round-robined by vegeta. Each carries the user's token; `x-bench-*` name the user for the floor,
 * whose Envoy has no policy and sets the rating API's x-zt-* headers from them (the other stacks'
 * edges pass them through unread).
 */
export function edgeTargets(users: readonly EdgeUser[], count: number, edgeRegion: string, seed = 13): { lines: string; mix: Mix } {
  const rnd = prng(seed);
  const mix: Mix = { write: 0, read: 0, forbidden_role: 0, tenant_mismatch: 0, cross_region: 0 };
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    const user = users[Math.floor(rnd() * users.length)]!;
    const write = rnd() < WRITE_SHARE;
    const other = rnd() < OTHER_TENANT_SHARE;
    const tenant = other ? tenantName((Number(user.tenant.slice(1)) + 1) % TENANTS) : user.tenant;
    const item = `item-${Math.floor(rnd() * 500)}`;
    const kind = user.region !== edgeRegion ? 'cross_region' : other ? 'tenant_mismatch' : write && user.roles.includes('viewer') ? 'forbidden_role' : write ? 'write' : 'read';
    mix[kind]++;
    const header: Record<string, string[]> = {
      authorization: [`Bearer ${user.token}`],
      'x-bench-sub': [user.sub],
      'x-bench-tenant': [user.tenant],
      'x-bench-roles': [user.roles.join(',')],
    };
    const url = `https://localhost/v1/tenants/${tenant}/items/${item}/ratings`;
    if (write) {
      const body = JSON.stringify({ score: 1 + Math.floor(rnd() * 5) });
      out.push(JSON.stringify({ method: 'POST', url, header: { ...header, 'content-type': ['application/json'] }, body: Buffer.from(body).toString('base64') }));
    } else {
      out.push(JSON.stringify({ method: 'GET', url, header }));
    }
  }
  for (const k of Object.keys(mix) as (keyof Mix)[]) mix[k] = Math.round((mix[k] / count) * 1000) / 1000;
  return { lines: `${out.join('\n')}\n`, mix };
}
