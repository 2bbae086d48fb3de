import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { PRIVATE_MODE, PUBLIC_MODE, writeFileAtomic } from './atomic-fs.js';
import { certInfo, parseCertFile, type CertInfo } from '../shared/pki/workload-material.js';
import { generateRsaKey, type KeyPair } from './keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import type { Topology } from '../shared/topology.js';
import { buildIntermediateCert, buildRootCert, issuerFromPem, type Issuer } from './x509.js';

/** Leaves and the intermediate are backdated this much for clock skew between hosts. */
export const BACKDATE_MS = 60_000;

/** The CA as loaded from disk: the root, the intermediate that signs leaves, and the trust bundle. */
export interface LoadedCa {
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly bundlePem: string;
  readonly intermediate: X509Certificate;
  readonly intermediateInfo: CertInfo;
  readonly rootInfo: CertInfo;
  /** Lazily parsed forge form of the intermediate, for signing (parsing its key is not free). */
  issuer(): Issuer;
}

/** Reads and checks the CA files; a missing or damaged file is an error naming it. */
export async function loadCa(layout: PkiLayout): Promise<LoadedCa> {
  const [rootPem, intermediatePem, intermediateKeyPem, bundlePem] = await Promise.all([
    readCaFile(layout.rootCert),
    readCaFile(layout.intermediateCert),
    readCaFile(layout.intermediateKey),
    readCaFile(layout.bundle),
  ]);
  const root = parseCertFile(rootPem, layout.rootCert)[0] as X509Certificate;
  const intermediate = parseCertFile(intermediatePem, layout.intermediateCert)[0] as X509Certificate;
  parseCertFile(bundlePem, layout.bundle);
  let key;
  try {
    key = createPrivateKey(intermediateKeyPem);
  } catch (err) {
    throw new ConfigError('pki_key_corrupt', `${layout.intermediateKey} is not a valid private key: ${errorMessage(err)}`, { cause: err });
  }
  if (!intermediate.checkPrivateKey(key)) {
    throw new ConfigError('pki_key_mismatch', `${layout.intermediateKey} does not match ${layout.intermediateCert}`);
  }
  if (!intermediate.verify(root.publicKey)) {
    throw new ConfigError('pki_ca_invalid', `${layout.intermediateCert} is not signed by the root in ${layout.rootCert}`);
  }
  let issuer: Issuer | undefined;
  return {
    rootPem,
    intermediatePem,
    bundlePem,
    intermediate,
    intermediateInfo: certInfo(intermediate),
    rootInfo: certInfo(root),
    issuer: () => (issuer ??= issuerFromPem(intermediatePem, intermediateKeyPem)),
  };
}

/** True when the CA files the rotator needs exist (they may still be invalid; loadCa says how). The root key is not one of them. */
export async function caExists(layout: PkiLayout): Promise<boolean> {
  return (await caFilesPresent(layout)) === 'all';
}

/**
 * Which CA files exist: all that issuing leaves needs (root.crt, intermediate.crt and .key,
 * bundle.crt; the root key may be elsewhere or offline), none of those, the root only
 * (an interrupted init, or a deleted intermediate), or some other mix that only an operator can judge.
 */
export async function caFilesPresent(layout: PkiLayout): Promise<'all' | 'none' | 'root_only' | 'partial'> {
  const [rootCert, rootKey, intCert, intKey, bundle] = await Promise.all(
    [layout.rootCert, layout.rootKey, layout.intermediateCert, layout.intermediateKey, layout.bundle].map(exists),
  );
  if (rootCert && intCert && intKey && bundle) return 'all';
  // A root key whose certificate is gone can sign nothing anyone trusts: the CA is lost, start again.
  if (!rootCert && !intCert && !intKey && !bundle) return 'none';
  if (rootCert && rootKey && !intCert && !intKey) return 'root_only';
  return 'partial';
}

/**
 * Moves a root key written before it left `ca/` (where the rotator, which mounts `ca/`, could read
 * it) to ZT_PKI_ROOT_DIR. Returns whether it moved one. Two different root keys are an error for an
 * operator to resolve.
 */
export async function moveLegacyRootKey(layout: PkiLayout): Promise<boolean> {
  if (!(await exists(layout.legacyRootKey))) return false;
  const legacy = await readCaFile(layout.legacyRootKey);
  if (await exists(layout.rootKey)) {
    if ((await readCaFile(layout.rootKey)) !== legacy) {
      throw new ConfigError('pki_ca_invalid', `two different root keys: ${layout.legacyRootKey} and ${layout.rootKey}; keep the one that signed ${layout.rootCert} in ${layout.rootKey} and remove the other`);
    }
  } else {
    await mkdir(layout.rootDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(layout.rootKey, legacy, PRIVATE_MODE);
  }
  await rm(layout.legacyRootKey);
  return true;
}

/** Completes a CA whose root exists but whose intermediate (and bundle) do not, keeping the root. */
export async function completeCa(layout: PkiLayout, spec: Topology, now: Date): Promise<void> {
  await renewIntermediate(layout, spec, now);
  await writeFileAtomic(layout.bundle, await readCaFile(layout.rootCert), PUBLIC_MODE);
}

/**
 * Creates a new root and intermediate. Keys are generated concurrently on the thread pool. The root
 * is written last-but-one and the bundle last, so a failure never leaves a bundle that does not
 * match the root.
 */
export async function createCa(layout: PkiLayout, spec: Topology, now: Date): Promise<void> {
  const [rootKeys, intermediateKeys] = await Promise.all([
    generateRsaKey(spec.root.keyBits),
    generateRsaKey(spec.intermediate.keyBits),
  ]);
  const rootPem = buildRootCert({
    commonName: spec.root.commonName,
    trustDomain: spec.trustDomain,
    keys: rootKeys,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + spec.root.ttlMs),
  });
  const root = issuerFromPem(rootPem, rootKeys.privatePem);
  await mkdir(layout.rootDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(layout.rootKey, rootKeys.privatePem, PRIVATE_MODE);
  await writeFileAtomic(layout.rootCert, rootPem, PUBLIC_MODE);
  await writeIntermediate(layout, spec, root, intermediateKeys, now);
  await writeFileAtomic(layout.bundle, rootPem, PUBLIC_MODE);
}

/**
 * Issues a new intermediate under the existing root; leaves under the old one stay valid. This is the
 * one place that reads the root key, and only `pki init` and `pki renew-intermediate` get here.
 */
export async function renewIntermediate(layout: PkiLayout, spec: Topology, now: Date): Promise<void> {
  const rootPem = await readCaFile(layout.rootCert);
  let rootKeyPem: string;
  try {
    rootKeyPem = await readFile(layout.rootKey, 'utf8');
  } catch (err) {
    throw new ConfigError('pki_root_key_missing', `cannot read the root key ${layout.rootKey} (ZT_PKI_ROOT_DIR): ${errorMessage(err)}; renewing the intermediate needs it: bring it back from where it is kept offline`, { cause: err });
  }
  const root = issuerFromPem(rootPem, rootKeyPem);
  await writeIntermediate(layout, spec, root, await generateRsaKey(spec.intermediate.keyBits), now);
}

/**
 * The intermediate's key and certificate are two files, so they are staged as `.next` files and
 * renamed key first. `recoverIntermediate` finishes or undoes a swap that a crash interrupted.
 */
async function writeIntermediate(layout: PkiLayout, spec: Topology, root: Issuer, keys: KeyPair, now: Date): Promise<void> {
  const pem = buildIntermediateCert({
    commonName: spec.intermediate.commonName,
    trustDomain: spec.trustDomain,
    keys,
    root,
    permittedDns: spec.permittedDns,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + spec.intermediate.ttlMs),
  });
  await writeFileAtomic(`${layout.intermediateKey}.next`, keys.privatePem, PRIVATE_MODE);
  await writeFileAtomic(`${layout.intermediateCert}.next`, pem, PUBLIC_MODE);
  await rename(`${layout.intermediateKey}.next`, layout.intermediateKey);
  await rename(`${layout.intermediateCert}.next`, layout.intermediateCert);
}

/**
 * Completes an intermediate swap cut short by a crash: if the key was already renamed, the staged
 * certificate follows it; if not, the staged files are dropped and the old pair stays.
 */
export async function recoverIntermediate(layout: PkiLayout): Promise<'none' | 'completed' | 'discarded'> {
  const keyNext = `${layout.intermediateKey}.next`;
  const certNext = `${layout.intermediateCert}.next`;
  if (await exists(keyNext)) {
    await rm(keyNext, { force: true });
    await rm(certNext, { force: true });
    return 'discarded';
  }
  if (await exists(certNext)) {
    await rename(certNext, layout.intermediateCert);
    return 'completed';
  }
  return 'none';
}

async function readCaFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (the CA is missing; run: pki init)' : '';
    throw new ConfigError('pki_ca_missing', `cannot read CA file ${file}: ${errorMessage(err)}${hint}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
