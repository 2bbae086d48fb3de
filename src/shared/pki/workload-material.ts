import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
import { REDIS_PASSWORD_FILE, type PkiLayout } from './pki-layout.js';

/** What rotation and status need to know of a certificate. */
export interface CertInfo {
  /** Lower-case hex without leading zeros, as openssl prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spiffeId: string | undefined;
  readonly dns: readonly string[];
  readonly ip: readonly string[];
  readonly subject: string;
  readonly issuer: string;
}

/** One workload's material as read through `current`, resolved once so the files belong together. */
export interface WorkloadMaterial {
  readonly versionDir: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  /** The version's Redis ACL password, for the workloads that are Redis users; undefined for the others. */
  readonly redisPassword: string | undefined;
  readonly leaf: X509Certificate;
  readonly chain: readonly X509Certificate[];
  readonly info: CertInfo;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificates. */
export function splitPem(pem: string): string[] {
  return pem.match(PEM_CERT)?.map((p) => `${p}\n`) ?? [];
}

/** Parses every certificate in a PEM file; a corrupted or truncated file is an error naming it. */
export function parseCertFile(pem: string, file: string): X509Certificate[] {
  const blocks = splitPem(pem);
  if (blocks.length === 0) {
    throw new ConfigError('pki_cert_corrupt', `${file} holds no complete PEM certificate (truncated or corrupted)`);
  }
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new ConfigError('pki_cert_corrupt', `${file} is not a valid certificate (truncated or corrupted): ${errorMessage(err)}`, { cause: err });
  }
}

/** Reads the fields rotation and status use out of a parsed certificate. */
export function certInfo(cert: X509Certificate): CertInfo {
  const names = (cert.subjectAltName ?? '').split(', ').filter(Boolean);
  const of = (prefix: string): string[] => names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  return {
    serial: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    spiffeId: of('URI:').find((u) => u.startsWith('spiffe://')),
    dns: of('DNS:'),
    ip: of('IP Address:'),
    subject: cert.subject,
    issuer: cert.issuer,
  };
}

/**
 * Reads `<workload>/current/{cert.pem,key.pem,ca.pem}` and, for a Redis user, `redis-password`.
 * `current` is resolved once and every file is read from the resolved version directory, so a
 * rotation that swaps the link mid-read can never hand out a certificate from one version with the
 * key (or the password) of another. The key must match the cert.
 */
export async function readWorkloadMaterial(layout: PkiLayout, workload: string): Promise<WorkloadMaterial> {
  const link = layout.current(workload);
  let versionDir: string;
  try {
    versionDir = await realpath(link);
  } catch (err) {
    throw new ConfigError('pki_missing', `no certificate for workload "${workload}": ${link} does not exist (run: pki init, or pki issue ${workload})`, { cause: err });
  }
  const certFile = join(versionDir, 'cert.pem');
  const keyFile = join(versionDir, 'key.pem');
  const caFile = join(versionDir, 'ca.pem');
  const [certPem, keyPem, caPem, redisPassword] = await Promise.all([readNamed(certFile), readNamed(keyFile), readNamed(caFile), readRedisPassword(versionDir)]);
  const chain = parseCertFile(certPem, certFile);
  const leaf = chain[0] as X509Certificate;
  const issuer = chain[1];
  if (issuer === undefined || !leaf.verify(issuer.publicKey)) {
    throw new ConfigError('pki_cert_corrupt', `${certFile} is not a valid certificate (truncated or corrupted): its signature does not verify against the intermediate that follows it`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new ConfigError('pki_key_corrupt', `${keyFile} is not a valid private key: ${errorMessage(err)}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError('pki_key_mismatch', `${keyFile} does not match the certificate in ${certFile}`);
  }
  parseCertFile(caPem, caFile);
  return { versionDir, certPem, keyPem, caPem, redisPassword, leaf, chain, info: certInfo(leaf) };
}

/** The Redis password of one version directory; undefined when the workload is not a Redis user. */
export async function readRedisPassword(versionDir: string): Promise<string | undefined> {
  const file = join(versionDir, REDIS_PASSWORD_FILE);
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text === '') throw new ConfigError('pki_password_corrupt', `${file} is empty (truncated or corrupted)`);
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('pki_missing', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

async function readNamed(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('pki_missing', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}
