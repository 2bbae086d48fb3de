/**
 * Which files of a PKI are secrets, and whose: what the least-privilege tests (compose mounts, the
 * embedded stack's processes) classify every file a container or a process can read with.
 */
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { PkiLayout } from '../../src/shared/pki/pki-layout.js';

/**
 * The owner of a secret file: a workload's name (its key, its Redis password, Redis's ACL file,
 * Grafana's admin password), `intermediate` (the intermediate CA's key), `root` (the root CA's key)
 * or `jwt` (a JWT signing key); undefined for a public file (certificates, the bundle, the JWKS...).
 */
export function secretOwner(layout: PkiLayout, file: string): string | undefined {
  const inRoot = relative(layout.rootDir, file);
  if (!inRoot.startsWith('..') && inRoot.split(sep).at(-1) === 'root.key') return 'root';
  const rel = relative(layout.dir, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  const name = parts.at(-1) ?? '';
  if (parts[0] === 'ca') return name === 'root.key' ? 'root' : name.startsWith('intermediate.key') ? 'intermediate' : undefined;
  if (parts[0] === 'jwt') return name === 'key.pem' ? 'jwt' : undefined;
  if (parts.length === 3 && (name === 'key.pem' || name === 'redis-password')) return parts[0];
  if (parts.length === 2 && (name === 'users.acl' || name === 'admin-password')) return parts[0];
  return undefined;
}

/** Every regular file under `dir` (or `dir` itself when it is a file), without following symlinks. */
export async function filesUnder(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (entries === undefined) return [path];
  const out: string[] = [];
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
