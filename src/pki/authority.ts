import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import type { RedisServer } from '../shared/redis-client.js';
import { PRIVATE_MODE, inheritedOwner, writeFileAtomic } from './atomic-fs.js';
import { caFilesPresent, completeCa, createCa, loadCa, moveLegacyRootKey, recoverIntermediate, renewIntermediate } from './ca.js';
import { readWorkloadMaterial, type CertInfo } from '../shared/pki/workload-material.js';
import { rotateJwtKey } from './jwt-keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import { generateRsaKey } from './keys.js';
import { issueLeaf, LEAF_KEY_BITS, stageLeaf } from './leaf.js';
import { newRedisPassword, writeRedisAcl } from './redis-acl.js';
import { commitStaged, intermediateDueReason, lifetimeFraction, rotate, RENEW_FRACTION, type RotateSummary } from './rotate.js';
import { MIN_LEAF_TTL_MS, workloadNamed, type Topology } from '../shared/topology.js';

export interface InitResult {
  readonly changed: boolean;
  readonly created: readonly string[];
}

/** The workload whose directory holds Grafana's generated admin password (compose). */
const GRAFANA_WORKLOAD = 'grafana';

/**
 * Creates whatever PKI material is missing: the CA, each workload's leaf (and, for Redis users,
 * password), the JWT key, the Redis ACL file, Grafana's admin password. With everything present it
 * changes nothing. `force` recreates the CA and reissues everything under it. An intermediate whose
 * name constraints no longer match workloads.yaml is renewed (init holds the root key), and every
 * leaf with it. A root key left in `ca/` by an older PKI is moved to ZT_PKI_ROOT_DIR. Existing
 * material that cannot be read is an error, never silently replaced (use `force`).
 */
export async function initPki(layout: PkiLayout, spec: Topology, opts: { force?: boolean; now?: Date } = {}): Promise<InitResult> {
  const now = opts.now ?? new Date();
  const created: string[] = [];
  await recoverIntermediate(layout);
  if (await moveLegacyRootKey(layout)) created.push('root key moved');
  let present: Awaited<ReturnType<typeof caFilesPresent>> | 'reissue' = opts.force === true ? 'none' : await caFilesPresent(layout);
  if (present === 'all' && intermediateDueReason(await loadCa(layout), spec, now) === 'spec_changed') {
    await renewIntermediate(layout, spec, now);
    created.push('intermediate (spec_changed)');
    present = 'reissue';
  }
  if (present === 'partial') {
    throw new ConfigError('pki_ca_invalid', `the CA under ${layout.caDir} is incomplete (some of root.crt, intermediate.crt, intermediate.key, bundle.crt are missing); restore them or recreate everything with: pki init --force`);
  }
  // A new root means every leaf must be reissued under it; otherwise only the missing ones.
  const missing: string[] = [];
  for (const w of spec.workloads.values()) {
    if (present === 'none' || present === 'reissue') {
      missing.push(w.name);
      continue;
    }
    try {
      await readWorkloadMaterial(layout, w.name);
    } catch (err) {
      if (err instanceof ConfigError && err.code === 'pki_missing') missing.push(w.name);
      else throw err;
    }
  }
  // Leaf keys do not depend on the CA, so they are generated while the CA's are: key generation is
  // most of the cost, and the thread pool runs it on every core.
  const leafKeys = new Map(missing.map((name) => [name, generateRsaKey(LEAF_KEY_BITS)] as const));
  // A rejected key promise must not go unhandled if the CA step below throws first.
  for (const p of leafKeys.values()) p.catch(() => undefined);
  if (present === 'none') {
    await createCa(layout, spec, now);
    created.push('ca');
  } else if (present === 'root_only') {
    await completeCa(layout, spec, now);
    created.push('intermediate');
  }
  const ca = await loadCa(layout);
  await Promise.all(missing.map((name) => issueLeaf(layout, spec, ca, workloadNamed(spec, name), now, undefined, leafKeys.get(name))));
  created.push(...missing);
  const jwt = await rotateJwtKey(layout, spec, now, { force: opts.force === true, dryRun: false });
  if (jwt.action !== 'kept') created.push('jwt');
  if (await writeGrafanaPassword(layout, spec)) created.push('grafana admin password');
  await writeRedisAcl(layout, spec);
  return { changed: created.length > 0, created };
}

/**
 * Grafana's admin password, generated once (it only takes effect when Grafana creates its database)
 * and never rotated with the leaf: `<ZT_PKI_DIR>/grafana/admin-password`, mode 0600.
 */
async function writeGrafanaPassword(layout: PkiLayout, spec: Topology): Promise<boolean> {
  if (!spec.workloads.has(GRAFANA_WORKLOAD)) return false;
  const file = join(layout.workloadDir(GRAFANA_WORKLOAD), 'admin-password');
  const present = await readFile(file, 'utf8').then(
    (t) => t.trim() !== '',
    () => false,
  );
  if (present) return false;
  await writeFileAtomic(file, `${newRedisPassword()}\n`, PRIVATE_MODE, await inheritedOwner(layout.workloadDir(GRAFANA_WORKLOAD)));
  return true;
}

/**
 * Issues (or reissues) one workload's leaf now and makes it current; with `redis`, Redis is told of
 * a new password first and brought in step after, as a rotation does.
 */
export async function issueWorkload(layout: PkiLayout, spec: Topology, name: string, opts: { ttlMs?: number; now?: Date; redis?: RedisServer } = {}): Promise<CertInfo> {
  const workload = workloadNamed(spec, name);
  if (opts.ttlMs !== undefined && opts.ttlMs < MIN_LEAF_TTL_MS) {
    throw new ConfigError('pki_ttl_too_short', `--ttl must be at least 5m (got ${Math.round(opts.ttlMs / 1000)}s)`);
  }
  await recoverIntermediate(layout);
  const ca = await loadCa(layout);
  const staged = await stageLeaf(layout, spec, ca, workload, opts.now ?? new Date(), opts.ttlMs);
  const outcome = await commitStaged(layout, spec, [staged], opts.redis);
  const refused = outcome.refused.get(name);
  if (refused !== undefined) throw new ConfigError('redis_sync_failed', `${name}: ${refused}`);
  if (outcome.redis?.error !== undefined) throw new ConfigError('redis_sync_failed', `${name} was issued (serial ${staged.info.serial}), but ${outcome.redis.error}`);
  return staged.info;
}

/**
 * The explicit intermediate renewal, the one command besides `pki init` that reads the root key:
 * a new intermediate under the root, then a rotation that reissues every leaf under it (and keeps
 * Redis in step when `redis` is given). With `leavesByRotator`, only the intermediate: the
 * rotator's next run reissues every leaf (reason `intermediate_changed`), with Redis in step, which
 * is what compose's pki-init (no network, so no Redis) wants. Returns the rotation's summary, or
 * undefined when the leaves are left to the rotator.
 */
export async function renewIntermediateNow(layout: PkiLayout, spec: Topology, opts: { now?: Date; redis?: RedisServer; leavesByRotator?: boolean } = {}): Promise<RotateSummary | undefined> {
  const now = opts.now ?? new Date();
  await recoverIntermediate(layout);
  await renewIntermediate(layout, spec, now);
  if (opts.leavesByRotator === true) return undefined;
  return rotate(layout, spec, { now, ...(opts.redis === undefined ? {} : { redis: opts.redis }) });
}

export interface StatusRow {
  readonly name: string;
  readonly spiffe_id: string;
  readonly state: 'ok' | 'due' | 'expired' | 'missing' | 'invalid';
  readonly serial?: string;
  readonly not_after?: string;
  readonly seconds_left?: number;
  readonly due: boolean;
  readonly error?: string;
}

/** The state of the intermediate and every leaf: serial, expiry, time left and whether it is due. */
export async function pkiStatus(layout: PkiLayout, spec: Topology, now = new Date()): Promise<StatusRow[]> {
  const rows: StatusRow[] = [];
  try {
    const ca = await loadCa(layout);
    rows.push(row('intermediate', `spiffe://${spec.trustDomain}`, ca.intermediateInfo, now));
  } catch (err) {
    rows.push(failed('intermediate', `spiffe://${spec.trustDomain}`, err));
  }
  for (const w of spec.workloads.values()) {
    try {
      rows.push(row(w.name, w.spiffeId, (await readWorkloadMaterial(layout, w.name)).info, now));
    } catch (err) {
      rows.push(failed(w.name, w.spiffeId, err));
    }
  }
  return rows;
}

function row(name: string, spiffeId: string, info: CertInfo, now: Date): StatusRow {
  const secondsLeft = Math.floor((info.notAfter.getTime() - now.getTime()) / 1000);
  const due = lifetimeFraction(info, now) >= RENEW_FRACTION;
  return {
    name,
    spiffe_id: info.spiffeId ?? spiffeId,
    state: secondsLeft <= 0 ? 'expired' : due ? 'due' : 'ok',
    serial: info.serial,
    not_after: info.notAfter.toISOString(),
    seconds_left: secondsLeft,
    due,
  };
}

function failed(name: string, spiffeId: string, err: unknown): StatusRow {
  const missing = err instanceof ConfigError && (err.code === 'pki_missing' || err.code === 'pki_ca_missing');
  return { name, spiffe_id: spiffeId, state: missing ? 'missing' : 'invalid', due: true, error: err instanceof Error ? err.message : String(err) };
}
