import { lstat } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { caExists, loadCa, recoverIntermediate, renewIntermediate, type LoadedCa } from './ca.js';
import { readWorkloadMaterial, type CertInfo } from '../shared/pki/workload-material.js';
import { rotateJwtKey, type JwtRotation } from './jwt-keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import { issueLeaf } from './leaf.js';
import type { Topology, Workload } from '../shared/topology.js';
import { nameConstraintsDer, nameConstraintsOf } from './x509.js';

/** Renew past this fraction of a certificate's lifetime (DESIGN.md: 2/3). */
export const RENEW_FRACTION = 2 / 3;

export interface RotateOptions {
  readonly now?: Date;
  /** Renew every leaf now, due or not. */
  readonly force?: boolean;
  /** Renew the intermediate now (and so every leaf). */
  readonly forceIntermediate?: boolean;
  /** Renew the JWT signing key now. */
  readonly forceJwt?: boolean;
  /** Report what would be renewed; write nothing. */
  readonly dryRun?: boolean;
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
  intermediate: { action: 'kept' | 'renewed' | 'would_renew'; reason: string; serial: string; not_after: string };
  jwt: JwtRotation | { action: 'failed'; error: string };
  leaves: LeafResult[];
  errors: string[];
}

/** How far through its lifetime a certificate is at `now`: 0 at notBefore, 1 at notAfter. */
export function lifetimeFraction(info: Pick<CertInfo, 'notBefore' | 'notAfter'>, now: Date): number {
  const total = info.notAfter.getTime() - info.notBefore.getTime();
  return total <= 0 ? 1 : (now.getTime() - info.notBefore.getTime()) / total;
}

/**
 * One rotation run: renews the intermediate past 2/3 of its life (and then every leaf under it),
 * each leaf past 2/3 of its life or no longer matching workloads.yaml, and the JWT key on its own
 * schedule. A leaf that cannot be read (corrupted, key mismatch) is reported as failed and left
 * exactly as it is; every swap is atomic, so a failure never leaves a `current` that is not valid.
 * The caller holds the PKI lock.
 */
export async function rotate(layout: PkiLayout, spec: Topology, opts: RotateOptions = {}): Promise<RotateSummary> {
  const now = opts.now ?? new Date();
  const started = performance.now();
  const dryRun = opts.dryRun ?? false;
  if (!(await caExists(layout))) {
    throw new ConfigError('pki_ca_missing', `the CA is missing under ${layout.caDir} (run: pki init)`);
  }
  if (!dryRun) await recoverIntermediate(layout);
  let ca = await loadCa(layout);

  const caReason = intermediateDueReason(ca, spec, now, opts.forceIntermediate === true);
  const caDue = caReason !== 'valid';
  if (caDue && !dryRun) {
    await renewIntermediate(layout, spec, now);
    ca = await loadCa(layout);
  }

  const summary: RotateSummary = {
    ok: true,
    dry_run: dryRun,
    forced: opts.force === true,
    started_at: now.toISOString(),
    duration_ms: 0,
    intermediate: {
      action: caDue ? (dryRun ? 'would_renew' : 'renewed') : 'kept',
      reason: caReason,
      serial: ca.intermediateInfo.serial,
      not_after: ca.intermediateInfo.notAfter.toISOString(),
    },
    jwt: { action: 'kept', kid: undefined, published: [], removed: [] },
    leaves: [],
    errors: [],
  };

  // One leaf at a time. Rotation runs beside the services whose certificates it renews, and an
  // RSA key generation takes a whole core for up to a few hundred milliseconds: generating every
  // leaf's key at once (as pki init does, with nothing else running) took every core of a 2-core
  // host for a second or more per forced rotation, long enough for authz's Redis commands to time
  // out and its 250 ms checks to be missed. One at a time, the services keep the other cores.
  const results: LeafResult[] = [];
  for (const w of spec.workloads.values()) {
    results.push(await rotateLeaf(layout, spec, ca, w, now, { ...opts, dryRun, forceAll: opts.force === true || (caDue && dryRun) }));
  }
  for (const r of results) {
    summary.leaves.push(r);
    opts.onLeaf?.(r);
    if (r.action === 'failed') {
      summary.ok = false;
      summary.errors.push(`${r.workload}: ${r.error ?? 'failed'}`);
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

async function rotateLeaf(
  layout: PkiLayout,
  spec: Topology,
  ca: LoadedCa,
  workload: Workload,
  now: Date,
  opts: { dryRun: boolean; forceAll: boolean },
): Promise<LeafResult> {
  const base = { workload: workload.name, spiffe_id: workload.spiffeId };
  let reason: string;
  let existing: CertInfo | undefined;
  try {
    const material = await readWorkloadMaterial(layout, workload.name);
    existing = material.info;
    reason = dueReason(material.info, material.leaf.verify(ca.intermediate.publicKey), workload, now, opts.forceAll);
  } catch (err) {
    if (err instanceof ConfigError && err.code === 'pki_missing' && !(await currentExists(layout, workload.name))) {
      reason = 'missing';
    } else {
      return { ...base, action: 'failed', reason: 'unreadable', error: `${errorMessage(err)}; left untouched (replace it with: pki issue ${workload.name})` };
    }
  }
  if (reason === 'valid' && existing) return { ...base, action: 'kept', reason, ...describe(existing, now) };
  if (opts.dryRun) return { ...base, action: 'would_renew', reason, ...(existing ? describe(existing, now) : {}) };
  try {
    const info = await issueLeaf(layout, spec, ca, workload, now);
    return { ...base, action: reason === 'missing' ? 'issued' : 'renewed', reason, ...describe(info, now) };
  } catch (err) {
    return { ...base, action: 'failed', reason, error: errorMessage(err) };
  }
}

/**
 * Why the intermediate must be renewed, or `valid`. Its name constraints are compared with what
 * workloads.yaml asks for today, so a changed declaration (or one written before IP addresses were
 * excluded) reaches the CA, and through it every leaf, at the next run.
 */
function intermediateDueReason(ca: LoadedCa, spec: Topology, now: Date, force: boolean): string {
  if (force) return 'forced';
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

async function currentExists(layout: PkiLayout, workload: string): Promise<boolean> {
  try {
    await lstat(layout.current(workload));
    return true;
  } catch {
    return false;
  }
}
