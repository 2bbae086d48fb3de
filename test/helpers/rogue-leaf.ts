import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestPki } from './given-pki.js';

const run = promisify(execFile);

/** Leaves the intermediate must not be able to vouch for, one SAN outside the constraints each. */
export const ROGUE_SANS = {
  'foreign-dns': 'URI:spiffe://zt.local/global/svc/rogue, DNS:www.example.com',
  'foreign-uri': 'URI:spiffe://evil.example/global/svc/rogue',
  'ip-san': 'URI:spiffe://zt.local/global/svc/rogue, DNS:localhost, IP:127.0.0.1',
} as const;

/**
 * A leaf for `san` signed by the PKI's real intermediate with the openssl CLI; returns the path of
 * its chain (leaf + intermediate), with its key beside it (`<name>.key`). `extendedKeyUsage` is the
 * openssl value of its EKU (default serverAuth and clientAuth), or null for a leaf without one.
 */
export async function rogueLeaf(pki: TestPki, name: string, san: string, extendedKeyUsage: string | null = 'serverAuth,clientAuth'): Promise<string> {
  const base = join(pki.dir, `rogue-${name}`);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/O=zt.local/CN=${name}`]);
  const eku = extendedKeyUsage === null ? '' : `extendedKeyUsage=${extendedKeyUsage}\n`;
  await writeFile(`${base}.ext`, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${eku}subjectAltName=${san}\n`);
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', pki.layout.intermediateCert, '-CAkey', pki.layout.intermediateKey, '-CAcreateserial', '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
  const chain = `${base}.chain.pem`;
  await writeFile(chain, (await readFile(`${base}.crt`, 'utf8')) + (await readFile(pki.layout.intermediateCert, 'utf8')));
  return chain;
}

/** A client's TLS material from a {@link rogueLeaf}: its chain, key and the PKI's bundle. */
export async function rogueClient(pki: TestPki, name: string, extendedKeyUsage: string | null): Promise<{ cert: string; key: string; ca: string }> {
  const chain = await rogueLeaf(pki, name, `URI:spiffe://${pki.spec.trustDomain}/us-east/client/${name}, DNS:localhost`, extendedKeyUsage);
  const { ca } = await pki.tls('client-alice');
  return { cert: await readFile(chain, 'utf8'), key: await readFile(chain.replace(/\.chain\.pem$/, '.key'), 'utf8'), ca };
}
