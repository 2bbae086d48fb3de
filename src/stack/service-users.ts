/**
 * "No process can read a private key or password that is not its own", for the embedded stack.
 *
 * Run as root, the stack gives each child a user of its own (uid = STACK_UID_BASE + the workload's
 * position in the topology, gid the same number), hands each workload's directory to that user, and
 * starts the child as it. Keys and passwords are mode 0600, so the kernel lets a service read only
 * its own; the CA keys, the root key and the JWT signing keys stay root's. Every later writer (the
 * stack's rotator, `npm run rotate` run as root) keeps a workload's files its owner's (see
 * `inheritedOwner` in src/pki/atomic-fs.ts). Public files (certificates, the trust bundle, the
 * JWKS) stay readable by all.
 *
 * This was chosen over a private mount namespace per child (the technique of
 * scripts/envoy-sandbox.sh): a child that runs as root can unmount what hides the other keys, or
 * read them through /proc/<the runner's pid>/root, so a namespace alone is a view, not a boundary.
 * File ownership is enforced by the kernel for a process that is not root whatever it does.
 *
 * Not run as root (a developer's `npm start`), every child runs as the runner's user and can read
 * every key the runner can; the banner says so.
 */
import { chmod, chown, lchown, readdir, stat } from 'node:fs/promises';
import { dirname, join, parse } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import type { Topology } from '../shared/topology.js';

/** A child's user and group. */
export interface ServiceUser {
  readonly uid: number;
  readonly gid: number;
}

/** Who each child runs as. */
export interface ServiceUsers {
  readonly enabled: boolean;
  /** For the banner: what holds the keys apart, or why nothing does. */
  readonly description: string;
  /** The user a workload's process runs as; undefined when isolation is off. */
  of(workload: string): ServiceUser | undefined;
}

/**
 * Decides who runs what and, when isolation is on, hands each of `workloads` its directory under
 * the PKI. `base` 0 turns isolation off. `mustRead` are files every child reads (the topology, the
 * policy...): isolation fails to start, naming the path, when another user could not reach one.
 */
export async function prepareServiceUsers(layout: PkiLayout, spec: Topology, base: number, workloads: readonly string[], mustRead: readonly string[]): Promise<ServiceUsers> {
  if (base === 0) return off('every service runs as the runner\'s user (STACK_UID_BASE=0): each can read every key it can');
  if (process.getuid?.() !== 0) return off('every service runs as your user (not root): each can read every key you can; as root, each runs as its own user and reads only its own key');
  const order = [...spec.workloads.keys()];
  const users = new Map<string, ServiceUser>();
  for (const w of workloads) {
    const i = order.indexOf(w);
    if (i < 0) throw new ConfigError('pki_unknown_workload', `the stack runs ${w}, which ${spec.file} does not declare`);
    users.set(w, { uid: base + i, gid: base + i });
  }
  // The PKI directory is the stack's: searchable by all, as `pki init` makes it; what is secret in
  // it is protected file by file. Anything outside it is the caller's to open up.
  await chmod(layout.dir, 0o755);
  for (const path of [layout.dir, ...mustRead]) await checkReachable(path);
  for (const [w, u] of users) await chownTree(layout.workloadDir(w), u);
  const range = [...users.values()].map((u) => u.uid);
  return {
    enabled: true,
    description: `each service runs as its own user (uids ${Math.min(...range)}-${Math.max(...range)}) and can read only its own key and password`,
    of: (w) => users.get(w),
  };
}

function off(description: string): ServiceUsers {
  return { enabled: false, description, of: () => undefined };
}

/** Hands a directory tree to `user` (symlinks themselves, not what they point to). */
async function chownTree(dir: string, user: ServiceUser): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, user);
    else if (entry.isSymbolicLink()) await lchown(path, user.uid, user.gid);
    else await chown(path, user.uid, user.gid);
  }
}

/**
 * Another user must be able to reach `path`: every directory above it searchable by others, and the
 * path itself readable (a file) or searchable (a directory).
 */
async function checkReachable(path: string): Promise<void> {
  const s = await stat(path);
  const need = s.isDirectory() ? 0o005 : 0o004;
  if ((s.mode & need) !== need) throw unreachable(path, s.mode, s.isDirectory() ? 'o+rx' : 'o+r');
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = await stat(dir);
    if ((d.mode & 0o001) === 0) throw unreachable(dir, d.mode, 'o+x');
    if (dir === parse(dir).root) break;
  }
}

function unreachable(path: string, mode: number, fix: string): ConfigError {
  return new ConfigError(
    'stack_isolation',
    `each service runs as its own user, who cannot reach ${path} (mode ${(mode & 0o777).toString(8)}): run chmod ${fix} ${path}, or STACK_UID_BASE=0 to run every service as root`,
  );
}
