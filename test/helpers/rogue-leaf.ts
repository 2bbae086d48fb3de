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
 * its chain (leaf + intermediate), with its key beside it (`<name>.key`).
 */
export async function rogueLeaf(pki: TestPki, name: string, san: string): Promise<string> {
  const base = join(pki.dir, `rogue-${name}`);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/O=zt.local/CN=${name}`]);
  await writeFile(
    `${base}.ext`,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`,
  );
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', pki.layout.intermediateCert, '-CAkey', pki.layout.intermediateKey, '-CAcreateserial', '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
  const chain = `${base}.chain.pem`;
  await writeFile(chain, (await readFile(`${base}.crt`, 'utf8')) + (await readFile(pki.layout.intermediateCert, 'utf8')));
  return chain;
}
