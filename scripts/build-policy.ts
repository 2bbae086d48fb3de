/**
 * `npm run build:policy`: compiles the Rego under policies/ to WebAssembly with the OPA CLI and
 * writes the module to policies/build/policy.wasm, where the policy service loads it (POLICY_WASM).
 * The data (policies/data.json) is not compiled in; the service sets it at load.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { Command, CommanderError } from 'commander';
import { extract } from 'tar';
import { POLICY_ENTRYPOINT } from '../src/authz/policy/policy-engine.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const opaScript = join(repoRoot, 'scripts', 'opa.sh');

// Tests and the generated output are not policy: keep them out of the bundle.
const IGNORE = ['*_test.rego', 'build'];

class BuildError extends Error {
  override readonly name = 'BuildError';
}

interface BuildOptions {
  policies?: string;
  out?: string;
}

const program = new Command('build-policy')
  .description(
    `Compile the Rego policy to WebAssembly (opa build -t wasm -e ${POLICY_ENTRYPOINT}) and write the module. ` +
      'Needs the OPA CLI (scripts/opa.sh finds it; OPA_BIN overrides).',
  )
  .option('--policies <dir>', 'directory of .rego files; *_test.rego and build/ are left out (default: policies/ of this repo)')
  .option('--out <file>', 'where to write the wasm module (default: policies/build/policy.wasm of this repo)')
  .action(async (opts: BuildOptions) => {
    const out = opts.out === undefined ? join(repoRoot, 'policies', 'build', 'policy.wasm') : resolve(opts.out);
    const policies = opts.policies === undefined ? join(repoRoot, 'policies') : resolve(opts.policies);
    const { bytes } = await buildPolicyWasm(policies, out);
    process.stdout.write(`wrote ${relative(process.cwd(), out) || out} (${bytes} bytes, entrypoint ${POLICY_ENTRYPOINT})\n`);
  });

async function buildPolicyWasm(policiesDir: string, out: string): Promise<{ bytes: number }> {
  const work = await mkdtemp(join(tmpdir(), 'zt-policy-build-'));
  try {
    const bundle = join(work, 'bundle.tar.gz');
    const ignore = IGNORE.flatMap((pattern) => ['--ignore', pattern]);
    await opa(['build', '-t', 'wasm', '-e', POLICY_ENTRYPOINT, ...ignore, '-o', bundle, policiesDir]);
    const wasm = await bundleFile(bundle, work, 'policy.wasm');
    await checkLoadable(wasm);
    await mkdir(dirname(out), { recursive: true });
    // Rename into place so that a service or test reading the file never sees half of it.
    const tmp = join(dirname(out), `.${process.pid}.policy.wasm.tmp`);
    await writeFile(tmp, wasm);
    await rename(tmp, out);
    return { bytes: wasm.length };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function opa(args: string[]): Promise<void> {
  try {
    await promisify(execFile)('bash', [opaScript, ...args], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    const text = `${stderr}${stdout}`.trim() || (err instanceof Error ? err.message : String(err));
    throw new BuildError(`opa ${args[0] ?? ''} failed:\n${text}`);
  }
}

/** Extracts one file of an OPA bundle (a gzipped tar; OPA names its entries `/policy.wasm`). */
async function bundleFile(bundle: string, work: string, name: string): Promise<Buffer> {
  const into = join(work, 'bundle');
  await mkdir(into);
  await extract({ file: bundle, cwd: into, filter: (path) => path.replace(/^(\.?\/)+/, '') === name });
  return readFile(join(into, name)).catch((err: unknown) => {
    throw new BuildError(`the OPA bundle has no ${name}`, { cause: err });
  });
}

// The service loads the module with opa-wasm; fail the build, not the service start, if it cannot.
async function checkLoadable(wasm: Buffer): Promise<void> {
  const policy = await loadPolicy(wasm);
  const entrypoints = policy.entrypoints as unknown;
  if (typeof entrypoints !== 'object' || entrypoints === null || !Object.hasOwn(entrypoints, POLICY_ENTRYPOINT)) {
    throw new BuildError(`the compiled module has no entrypoint ${POLICY_ENTRYPOINT}`);
  }
}

program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`build-policy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
