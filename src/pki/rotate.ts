import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { caExists, loadCa, recoverIntermediate, type LoadedCa } from './ca.js';
import { readWorkloadMaterial, type CertInfo } from '../shared/pki/workload-material.js';
import { rotateJwtKey, type JwtRotation } from './jwt-keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { commitLeaf, stageLeaf, type StagedLeaf } from './leaf.js';
import { writeRedisAcl } from './redis-acl.js';
import { pushAclUsers, syncRedis, type RedisSyncResult } from './redis-sync.js';
import type { Topology, Workload } from '../shared/topology.js';
import { nameConstraintsDer, nameConstraintsOf } from './x509.js';

/** Renew past this fraction of a certificate's lifetime (DESIGN.md: 2/3). */
export const RENEW_FRACTION = 2 / 3;

export interface RotateOptions {
  readonly now?: Date;
  /** Renew every leaf now, due or not. */
  readonly force?: boolean;
  /** Renew the JWT signing key now. */
  readonly forceJwt?: boolean;
  /** Report what would be renewed; write nothing. */
  readonly dryRun?: boolean;
  /**
   * The running Redis to keep in step (REDIS_URL): its users before a Redis user's new password
   * becomes current, its certificate after. Unset: only the ACL file is written.
   */
  readonly redis?: RedisServer;
  /** Called once per workload with its outcome, for progress and the rotator's log. */
  readonly onLeaf?: (result: LeafResult) => void;
}

export type LeafAction = 'kept' | 'renewed' | 'issued' | 'would_renew' | 'failed';

export interface LeafResult {
  readonly workload: string;
  readonly spiffe_id: string;
  readonly action: LeafAction;
  readonly reason: string;
  readonly serial?: string;
  readonly not_after?: string;
  readonly seconds_left?: number;
  readonly error?: string;
}

/** The one JSON line rotate-certs prints. */
export interface RotateSummary {
  ok: boolean;
  dry_run: boolean;
  forced: boolean;
  started_at: string;
  duration_ms: number;
  /**
   * `renewal_due`: past 2/3 of its life (or no longer matching workloads.yaml), and the rotator holds
   * no root key: an operator must run `pki renew-intermediate`. The run then fails.
   */
  intermediate: { action: 'kept' | 'renewal_due'; reason: string; serial: string; not_after: string };
  jwt: JwtRotation | { action: 'failed'; error: string };
  leaves: LeafResult[];
  /** Present when a Redis is configured and the run was not a dry run. */
  redis?: RedisSyncResult;
  errors: string[];
  /** Things an operator should do that do not fail the run. */
  warnings: string[];
}

/** How far through its lifetime a certificate is at `now`: 0 at notBefore, 1 at notAfter. */
export function lifetimeFraction(info: Pick<CertInfo, 'notBefore' | 'notAfter'>, now: Date): number {
  const total = info.notAfter.getTime() - info.notBefore.getTime();
  return total <= 0 ? 1 : (now.getTime() - info.notBefore.getTime()) / total;
}

/**
 * One rotation run: renews each leaf past 2/3 of its life, no longer matching workloads.yaml or
 * issued by a replaced intermediate, and the JWT key on its own schedule; keeps Redis in step (see
 * redis-sync.ts). It never reads the root key: an intermediate that is due is reported for an
 * operator (`pki renew-intermediate`), and the run fails until then. A leaf that cannot be read
 * (corrupted, key mismatch) is reported as failed and left exactly as it is; every swap is atomic,
 * so a failure never leaves a `current` that is not valid. The caller holds the PKI lock.
 */
export async function rotate(layout: PkiLayout, spec: Topology, opts: RotateOptions = {}): Promise<RotateSummary> {
  const now = opts.now ?? new Date();
  const started = performance.now();
  const dryRun = opts.dryRun ?? false;
  if (!(await caExists(layout))) {
    throw new ConfigError('pki_ca_missing', `the CA is missing under ${layout.caDir} (run: pki init)`);
  }
  if (!dryRun) await recoverIntermediate(layout);
  const ca = await loadCa(layout);
  const caReason = intermediateDueReason(ca, spec, now);

  const summary: RotateSummary = {
    ok: true,
    dry_run: dryRun,
    forced: opts.force === true,
    started_at: now.toISOString(),
    duration_ms: 0,
    intermediate: {
      action: caReason === 'valid' ? 'kept' : 'renewal_due',
      reason: caReason,
      serial: ca.intermediateInfo.serial,
      not_after: ca.intermediateInfo.notAfter.toISOString(),
    },
    jwt: { action: 'kept', kid: undefined, published: [], removed: [] },
    leaves: [],
    errors: [],
    warnings: [],
  };
  if (caReason !== 'valid') {
    summary.ok = false;
    summary.errors.push(
      `intermediate: due for renewal (${caReason}; not after ${summary.intermediate.not_after}); the rotator holds no root key: an operator must run \`pki renew-intermediate\` with the root key in ZT_PKI_ROOT_DIR`,
    );
  }
  if (await exists(layout.legacyRootKey)) {
    summary.warnings.push(`${layout.legacyRootKey}: the root key sits beside the files the rotator reads; \`pki init\` moves it to ${layout.rootKey}`);
  }

  // One leaf at a time. Rotation runs beside the services whose certificates it renews, and an
  // RSA key generation takes a whole core for up to a few hundred milliseconds: generating every
  // leaf's key at once (as pki init does, with nothing else running) took every core of a 2-core
  // host for a second or more per forced rotation, long enough for authz's Redis commands to time
  // out and its 250 ms checks to be missed. One at a time, the services keep the other cores.
  const outcomes: Awaited<ReturnType<typeof rotateLeaf>>[] = [];
  for (const w of spec.workloads.values()) outcomes.push(await rotateLeaf(layout, spec, ca, w, now, { dryRun, forceAll: opts.force === true }));
  const committed = dryRun ? { refused: new Map<string, string>(), redis: undefined } : await commitStaged(layout, spec, outcomes.flatMap((o) => (o.staged ? [o.staged] : [])), opts.redis);
  for (const { result, staged } of outcomes) {
    const refusal = staged === undefined ? undefined : committed.refused.get(staged.workload);
    const r: LeafResult = refusal === undefined ? result : { ...result, action: 'failed', error: refusal };
    summary.leaves.push(r);
    opts.onLeaf?.(r);
    if (r.action === 'failed') {
      summary.ok = false;
      summary.errors.push(`${r.workload}: ${r.error ?? 'failed'}`);
    }
  }
  if (committed.redis !== undefined) {
    summary.redis = committed.redis;
    if (committed.redis.error !== undefined) {
      summary.ok = false;
      summary.errors.push(committed.redis.error);
    }
  }

  try {
    summary.jwt = await rotateJwtKey(layout, spec, now, { force: opts.forceJwt === true, dryRun });
  } catch (err) {
    summary.ok = false;
    summary.jwt = { action: 'failed', error: errorMessage(err) };
    summary.errors.push(`jwt: ${errorMessage(err)}`);
  }
  summary.duration_ms = Math.round(performance.now() - started);
  return summary;
}

/** What committing staged leaves did: the leaves Redis would not let through, and the sync. */
export interface CommitOutcome {
  /** By workload: why its staged version was discarded (its old version stays current). */
  readonly refused: ReadonlyMap<string, string>;
  readonly redis: RedisSyncResult | undefined;
}

/**
 * Makes staged leaves current, with Redis told first of every new password (a Redis user's new
 * version is discarded when Redis cannot be told) and, with `redis`, brought in step afterwards.
 * The ACL file is written before the swap (kept and staged passwords) and after it (kept ones).
 */
export async function commitStaged(layout: PkiLayout, spec: Topology, staged: readonly StagedLeaf[], redis: RedisServer | undefined): Promise<CommitOutcome> {
  const refused = new Map<string, string>();
  if (staged.some((s) => s.redisUser)) {
    const withStaged = await writeRedisAcl(layout, spec);
    if (redis !== undefined) {
      try {
        await pushAclUsers(layout, redis, withStaged);
      } catch (err) {
        for (const s of staged.filter((x) => x.redisUser)) {
          refused.set(s.workload, `Redis did not take the new password (${errorMessage(err)}); the old certificate and password stay current`);
          await rm(join(layout.workloadDir(s.workload), s.version), { recursive: true, force: true });
        }
      }
    }
  }
  for (const s of staged) if (!refused.has(s.workload)) await commitLeaf(layout, s);
  const users = await writeRedisAcl(layout, spec);
  return { refused, redis: redis === undefined ? undefined : await syncRedis(layout, spec, redis, users) };
}

async function rotateLeaf(
  layout: PkiLayout,
  spec: Topology,
  ca: LoadedCa,
  workload: Workload,
  now: Date,
  opts: { dryRun: boolean; forceAll: boolean },
): Promise<{ result: LeafResult; staged?: StagedLeaf }> {
  const base = { workload: workload.name, spiffe_id: workload.spiffeId };
  let reason: string;
  let existing: CertInfo | undefined;
  try {
    const material = await readWorkloadMaterial(layout, workload.name);
    existing = material.info;
    reason = dueReason(material.info, material.leaf.verify(ca.intermediate.publicKey), workload, now, opts.forceAll);
  } catch (err) {
    if (err instanceof ConfigError && err.code === 'pki_missing' && !(await exists(layout.current(workload.name)))) {
      reason = 'missing';
    } else {
      return { result: { ...base, action: 'failed', reason: 'unreadable', error: `${errorMessage(err)}; left untouched (replace it with: pki issue ${workload.name})` } };
    }
  }
  if (reason === 'valid' && existing) return { result: { ...base, action: 'kept', reason, ...describe(existing, now) } };
  if (opts.dryRun) return { result: { ...base, action: 'would_renew', reason, ...(existing ? describe(existing, now) : {}) } };
  try {
    const staged = await stageLeaf(layout, spec, ca, workload, now);
    return { result: { ...base, action: reason === 'missing' ? 'issued' : 'renewed', reason, ...describe(staged.info, now) }, staged };
  } catch (err) {
    return { result: { ...base, action: 'failed', reason, error: errorMessage(err) } };
  }
}

/**
 * Why the intermediate must be renewed, or `valid`. Its name constraints are compared with what
 * workloads.yaml asks for today, so a changed declaration (or one written before IP addresses were
 * excluded) is reported here and reaches the CA, and through it every leaf, at the next `pki init`
 * or `pki renew-intermediate` (which hold the root key).
 */
export function intermediateDueReason(ca: LoadedCa, spec: Topology, now: Date): string {
  if (nameConstraintsOf(ca.intermediatePem) !== nameConstraintsDer(spec.trustDomain, spec.permittedDns)) return 'spec_changed';
  if (lifetimeFraction(ca.intermediateInfo, now) >= RENEW_FRACTION) return 'lifetime';
  return 'valid';
}

function dueReason(info: CertInfo, underCurrentIntermediate: boolean, workload: Workload, now: Date, force: boolean): string {
  if (force) return 'forced';
  if (!underCurrentIntermediate) return 'intermediate_changed';
  // A leaf from before IP SANs were dropped carries some; the declaration has none.
  if (info.spiffeId !== workload.spiffeId || !sameSet(info.dns, workload.dns) || info.ip.length > 0) return 'spec_changed';
  if (lifetimeFraction(info, now) >= RENEW_FRACTION) return 'lifetime';
  return 'valid';
}

function describe(info: CertInfo, now: Date): { serial: string; not_after: string; seconds_left: number } {
  return {
    serial: info.serial,
    not_after: info.notAfter.toISOString(),
    seconds_left: Math.floor((info.notAfter.getTime() - now.getTime()) / 1000),
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Whether a path exists (a dangling symlink counts). */
async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
