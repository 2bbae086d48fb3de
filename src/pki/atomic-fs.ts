import { randomBytes } from 'node:crypto';
import { chown, mkdir, open, readdir, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Private keys are readable by their owner only. */
export const PRIVATE_MODE = 0o600;
export const PUBLIC_MODE = 0o644;

/** Who a written file belongs to, when the writer is root and hands files to a service's own user. */
export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The owner new files in `dir` must get: `dir`'s own, when this process is root and `dir` belongs
 * to another user. That is how a workload's files stay its own across rotations: whoever chowned
 * its directory (the embedded stack gives each service a user of its own) decided who reads its
 * keys, and every writer keeps that. Undefined otherwise (the files belong to the writer).
 */
export async function inheritedOwner(dir: string): Promise<FileOwner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const s = await stat(dir).catch(() => undefined);
  return s === undefined || s.uid === 0 ? undefined : { uid: s.uid, gid: s.gid };
}

export interface FileToWrite {
  readonly name: string;
  readonly data: string;
  readonly mode: number;
}

/**
 * Writes a file, fsyncs it, and renames it into place, so a reader sees the old or the new file
 * whole. With `owner`, the file is handed over before it appears under its name.
 */
export async function writeFileAtomic(path: string, data: string, mode: number, owner?: FileOwner): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  await writeSynced(tmp, data, mode, owner);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Creates `<parent>/<version>/` holding `files`, all or nothing: the files are written into a hidden
 * temporary directory that is renamed to its final name only when complete. The directory and its
 * files belong to `parent`'s owner (see {@link inheritedOwner}).
 */
export async function writeVersionDir(parent: string, version: string, files: readonly FileToWrite[]): Promise<string> {
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const owner = await inheritedOwner(parent);
  const tmp = join(parent, `.${version}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(tmp, { mode: 0o755 });
  try {
    if (owner !== undefined) await chown(tmp, owner.uid, owner.gid);
    for (const f of files) await writeSynced(join(tmp, f.name), f.data, f.mode, owner);
    await syncDir(tmp);
    const final = join(parent, version);
    await rename(tmp, final);
    await syncDir(parent);
    return final;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Points `link` at `target` (a name relative to the link's directory) in one step: a new symlink
 * `<link>.tmp` is renamed over `link`. This is the move Envoy's SDS `watched_directory` notices, and
 * a relative target keeps the tree valid when it is bind-mounted elsewhere.
 */
export async function swapSymlink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp`;
  await unlink(tmp).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await symlink(target, tmp);
  await rename(tmp, link);
  await syncDir(dirname(link));
}

/** The target a symlink names, or undefined when there is no such link. */
export async function linkTarget(link: string): Promise<string | undefined> {
  try {
    return await readlink(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Removes old version directories, keeping the newest `keep` and whatever `current` points to. Old
 * versions are kept for a while because a reader may have resolved `current` just before a swap.
 */
export async function pruneVersions(parent: string, keep: number): Promise<string[]> {
  const current = await linkTarget(join(parent, 'current'));
  const entries = await readdir(parent, { withFileTypes: true });
  const versions = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const doomed = versions.slice(0, Math.max(0, versions.length - keep)).filter((v) => v !== current);
  for (const v of doomed) await rm(join(parent, v), { recursive: true, force: true });
  return doomed;
}

async function writeSynced(path: string, data: string, mode: number, owner?: FileOwner): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    if (owner !== undefined) await fh.chown(owner.uid, owner.gid);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
