import { createHash } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Every file and symlink under `dir`, as relative path -> content hash or link target, so a test
 * can assert that a failed command left the tree exactly as it was. The PKI lock file is ignored.
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (rel === '.lock') continue;
      if (e.isSymbolicLink()) out[rel] = `-> ${await readlink(p)}`;
      else if (e.isDirectory()) await walk(p);
      else out[rel] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  }
  await walk(dir);
  return out;
}
