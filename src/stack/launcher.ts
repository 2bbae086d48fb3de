/**
 * How the stack runs its services: compiled (`node dist/<svc>/main.js`) when dist/ is at least as
 * new as every source file, else straight from TypeScript (`node --import tsx src/<svc>/main.ts`),
 * so `npm start` works on a fresh checkout and never runs stale code. Every service also preloads
 * the orphan guard.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Runtime = 'dist' | 'tsx';
export type Service = 'authz' | 'rating' | 'edge';

/** The repository root: this file is src/stack/launcher.ts or dist/stack/launcher.js. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** A program and its arguments. */
export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
}

/** The compiled files a dist run needs; if any is missing or older than the sources, use tsx. */
const DIST_FILES = ['authz/main.js', 'rating/main.js', 'edge/main.js', 'stack/orphan-guard.js', 'stack/watchdog.js'];

/** Picks the runtime for `requested`, saying why, for the start banner. */
export async function chooseRuntime(requested: Runtime | 'auto', root = REPO_ROOT): Promise<{ runtime: Runtime; why: string }> {
  if (requested === 'tsx') return { runtime: 'tsx', why: 'asked for' };
  const stale = await distStaleness(root);
  if (requested === 'dist') {
    if (stale !== undefined) throw new Error(`--runtime dist: ${stale} (run: npm run build:ts)`);
    return { runtime: 'dist', why: 'asked for' };
  }
  return stale === undefined ? { runtime: 'dist', why: 'dist/ is newer than src/' } : { runtime: 'tsx', why: `${stale}; running the TypeScript through tsx (npm run build:ts makes starts faster)` };
}

/** Why dist/ cannot be used, or undefined when it is fresh. */
async function distStaleness(root: string): Promise<string | undefined> {
  let oldestDist = Infinity;
  for (const f of DIST_FILES) {
    const file = join(root, 'dist', f);
    const s = await stat(file).catch(() => undefined);
    if (s === undefined) return `dist/${f} is missing`;
    oldestDist = Math.min(oldestDist, s.mtimeMs);
  }
  const newestSrc = await newestMtime(join(root, 'src'));
  return newestSrc > oldestDist ? 'dist/ is older than src/' : undefined;
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

/** `node [node args] [--import tsx] --import <orphan guard> <service main>`; `nodeArgs` such as `--cpu-prof`. */
export function serviceLaunch(service: Service, runtime: Runtime, root = REPO_ROOT, nodeArgs: readonly string[] = []): Launch {
  const main = runtime === 'dist' ? join(root, 'dist', service, 'main.js') : join(root, 'src', service, 'main.ts');
  return { command: process.execPath, args: [...nodeArgs, ...preloads(runtime, root), main] };
}

/** `node ... watchdog <command> <args>`: for a program that cannot preload the guard itself. */
export function watchdogLaunch(program: Launch, runtime: Runtime, root = REPO_ROOT): Launch {
  const watchdog = runtime === 'dist' ? join(root, 'dist', 'stack', 'watchdog.js') : join(root, 'src', 'stack', 'watchdog.ts');
  return { command: process.execPath, args: [...(runtime === 'tsx' ? ['--import', 'tsx'] : []), watchdog, program.command, ...program.args] };
}

function preloads(runtime: Runtime, root: string): string[] {
  const guard = runtime === 'dist' ? join(root, 'dist', 'stack', 'orphan-guard.js') : join(root, 'src', 'stack', 'orphan-guard.ts');
  return [...(runtime === 'tsx' ? ['--import', 'tsx'] : []), '--import', pathToFileURL(guard).href];
}
