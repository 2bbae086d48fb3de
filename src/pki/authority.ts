import { ConfigError } from '../shared/errors.js';
import { caFilesPresent, completeCa, createCa, loadCa, recoverIntermediate } from './ca.js';
import { readWorkloadMaterial, type CertInfo } from '../shared/pki/workload-material.js';
import { rotateJwtKey } from './jwt-keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import { generateRsaKey } from './keys.js';
import { issueLeaf, LEAF_KEY_BITS } from './leaf.js';
import { lifetimeFraction, RENEW_FRACTION } from './rotate.js';
import { MIN_LEAF_TTL_MS, workloadNamed, type Topology } from '../shared/topology.js';

export interface InitResult {
  readonly changed: boolean;
  readonly created: readonly string[];
}

/**
 * Creates whatever PKI material is missing: the CA, each workload's leaf, the JWT key. With
 * everything present it changes nothing. `force` recreates the CA and reissues everything under it.
 * Existing material that cannot be read is an error, never silently replaced (use `force`).
 */
export async function initPki(layout: PkiLayout, spec: Topology, opts: { force?: boolean; now?: Date } = {}): Promise<InitResult> {
  const now = opts.now ?? new Date();
  const created: string[] = [];
  await recoverIntermediate(layout);
  const present = opts.force === true ? 'none' : await caFilesPresent(layout);
  if (present === 'partial') {
    throw new ConfigError('pki_ca_invalid', `the CA under ${layout.caDir} is incomplete (some of root.crt, root.key, intermediate.crt, intermediate.key, bundle.crt are missing); restore them or recreate everything with: pki init --force`);
  }
  // A new root means every leaf must be reissued under it; otherwise only the missing ones.
  const missing: string[] = [];
  for (const w of spec.workloads.values()) {
    if (present === 'none') {
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
  return { changed: created.length > 0, created };
}

/** Issues (or reissues) one workload's leaf now, replacing `current` atomically. */
export async function issueWorkload(layout: PkiLayout, spec: Topology, name: string, opts: { ttlMs?: number; now?: Date } = {}): Promise<CertInfo> {
  const workload = workloadNamed(spec, name);
  if (opts.ttlMs !== undefined && opts.ttlMs < MIN_LEAF_TTL_MS) {
    throw new ConfigError('pki_ttl_too_short', `--ttl must be at least 5m (got ${Math.round(opts.ttlMs / 1000)}s)`);
  }
  await recoverIntermediate(layout);
  const ca = await loadCa(layout);
  return issueLeaf(layout, spec, ca, workload, opts.now ?? new Date(), opts.ttlMs);
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
