import { join } from 'node:path';
import { REDIS_PASSWORD_FILE, type PkiLayout } from '../shared/pki/pki-layout.js';
import { PRIVATE_MODE, PUBLIC_MODE, pruneVersions, swapSymlink, writeVersionDir, type FileToWrite } from './atomic-fs.js';
import { BACKDATE_MS, type LoadedCa } from './ca.js';
import { certInfo, parseCertFile, type CertInfo } from '../shared/pki/workload-material.js';
import { generateRsaKey, type KeyPair } from './keys.js';
import { isRedisUser, newRedisPassword } from './redis-acl.js';
import type { Topology, Workload } from '../shared/topology.js';
import { buildLeafCert } from './x509.js';

/** Leaf keys: RSA-2048, fresh at every issue. */
export const LEAF_KEY_BITS = 2048;
/** Version directories kept per workload, so a reader that resolved `current` just before a swap still finds its files. */
export const VERSIONS_KEPT = 3;

/** A compact, sortable version name: the issue time to the millisecond and the serial's start. */
export function versionName(now: Date, serial: string): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${serial.slice(0, 8)}`;
}

/** A leaf written to its version directory but not yet `current`. */
export interface StagedLeaf {
  readonly workload: string;
  readonly version: string;
  readonly info: CertInfo;
  /** Whether the version holds a new Redis password, which Redis must accept before the swap. */
  readonly redisUser: boolean;
}

/**
 * Issues a new leaf for `workload` under the loaded intermediate and swaps `current` to it. The
 * version directory is complete before the swap, so `current` is never half-written.
 */
export async function issueLeaf(
  layout: PkiLayout,
  spec: Topology,
  ca: LoadedCa,
  workload: Workload,
  now: Date,
  ttlMs = workload.ttlMs,
  freshKey: Promise<KeyPair> = generateRsaKey(LEAF_KEY_BITS),
): Promise<CertInfo> {
  const staged = await stageLeaf(layout, spec, ca, workload, now, ttlMs, freshKey);
  await commitLeaf(layout, staged);
  return staged.info;
}

/**
 * Writes a new leaf (and, for a Redis user, a new password, mode 0600 beside the key) into a new
 * version directory, without making it current: {@link commitLeaf} does that.
 */
export async function stageLeaf(
  layout: PkiLayout,
  spec: Topology,
  ca: LoadedCa,
  workload: Workload,
  now: Date,
  ttlMs = workload.ttlMs,
  freshKey: Promise<KeyPair> = generateRsaKey(LEAF_KEY_BITS),
): Promise<StagedLeaf> {
  const keys = await freshKey;
  const leafPem = buildLeafCert({
    workload: workload.name,
    kind: workload.kind,
    spiffeId: workload.spiffeId,
    trustDomain: spec.trustDomain,
    dns: workload.dns,
    keys,
    issuer: ca.issuer(),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + ttlMs),
  });
  const info = certInfo(parseCertFile(leafPem, `${workload.name} leaf`)[0]!);
  const version = versionName(now, info.serial);
  const redisUser = isRedisUser(workload.name);
  const files: FileToWrite[] = [
    { name: 'cert.pem', data: leafPem + ca.intermediatePem, mode: PUBLIC_MODE },
    { name: 'key.pem', data: keys.privatePem, mode: PRIVATE_MODE },
    { name: 'ca.pem', data: ca.bundlePem, mode: PUBLIC_MODE },
    ...(redisUser ? [{ name: REDIS_PASSWORD_FILE, data: `${newRedisPassword()}\n`, mode: PRIVATE_MODE }] : []),
  ];
  await writeVersionDir(layout.workloadDir(workload.name), version, files);
  return { workload: workload.name, version, info, redisUser };
}

/** Swaps `current` to a staged version and prunes the oldest versions. */
export async function commitLeaf(layout: PkiLayout, staged: StagedLeaf): Promise<void> {
  const dir = layout.workloadDir(staged.workload);
  await swapSymlink(join(dir, 'current'), staged.version);
  await pruneVersions(dir, VERSIONS_KEPT);
}
