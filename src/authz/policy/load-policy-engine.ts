import { readFile } from 'node:fs/promises';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../../shared/errors.js';
import { POLICY_ENTRYPOINT, type PolicyEngine, type PolicyErrorListener } from './policy-engine.js';
import { PolicyDataSchema, type PolicyData } from './policy-data.js';
import { WasmPolicyEngine } from './wasm-policy-engine.js';

/** Where the compiled policy and its data live (settings POLICY_WASM and POLICY_DATA). */
export interface PolicyEngineFiles {
  readonly wasmPath: string;
  readonly dataPath: string;
  /** Told the cause of every `policy_error` decision, for the service's log. */
  readonly onError?: PolicyErrorListener;
}

const EntrypointsSchema = z.record(z.string(), z.number());

// The project's lib settings (ES2023, no DOM) do not declare the WebAssembly global that Node
// provides; this is the slice of it used here.
type WasmModule = object;
const wasmApi = (globalThis as unknown as {
  WebAssembly: {
    compile(bytes: Uint8Array): Promise<WasmModule>;
    Module: { exports(module: WasmModule): Array<{ name: string }> };
  };
}).WebAssembly;

/** Exports every module that `opa build -t wasm` writes has, and opa-wasm relies on. */
const OPA_EXPORTS = ['opa_wasm_abi_version', 'entrypoints', 'opa_eval', 'builtins'];

/**
 * Loads the compiled policy and its data and returns a ready engine. Every failure is a
 * {@link ConfigError} whose message names the file: `policy_wasm_missing`, `policy_wasm_invalid`,
 * `policy_data_missing` or `policy_data_invalid`.
 */
export async function loadPolicyEngine(files: PolicyEngineFiles): Promise<PolicyEngine> {
  const [wasm, data] = await Promise.all([readPolicyFile(files.wasmPath, 'wasm'), loadPolicyData(files.dataPath)]);
  const policy = await instantiate(wasm, files.wasmPath);
  try {
    policy.setData(data);
  } catch (err) {
    throw new ConfigError('policy_data_invalid', `policy data ${files.dataPath}: the policy refused it: ${errorMessage(err)}`, { cause: err });
  }
  return new WasmPolicyEngine(policy, files.onError);
}

/** Reads and checks the policy data file. */
async function loadPolicyData(path: string): Promise<PolicyData> {
  const text = (await readPolicyFile(path, 'data')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('policy_data_invalid', `policy data ${path}: not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
  const parsed = PolicyDataSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError('policy_data_invalid', `policy data ${path}: ${issues.join('; ')}`);
  }
  return parsed.data;
}

async function instantiate(wasm: Buffer, path: string): ReturnType<typeof loadPolicy> {
  const invalid = (why: string, cause?: unknown): ConfigError =>
    new ConfigError('policy_wasm_invalid', `policy wasm ${path}: not a loadable OPA wasm module: ${why}`, { cause });
  let module: WasmModule;
  try {
    module = await wasmApi.compile(wasm);
  } catch (err) {
    throw invalid(errorMessage(err), err);
  }
  // opa-wasm would only print to stderr and fail later on a module that is not an OPA policy.
  const exported = new Set(wasmApi.Module.exports(module).map((e) => e.name));
  const lacking = OPA_EXPORTS.filter((name) => !exported.has(name));
  if (lacking.length > 0) throw invalid(`it does not export ${lacking.join(', ')}`);
  let policy: Awaited<ReturnType<typeof loadPolicy>>;
  try {
    policy = await loadPolicy(module);
  } catch (err) {
    throw invalid(errorMessage(err), err);
  }
  const entrypoints = EntrypointsSchema.safeParse(policy.entrypoints);
  if (!entrypoints.success || !Object.hasOwn(entrypoints.data, POLICY_ENTRYPOINT)) {
    const found = entrypoints.success ? Object.keys(entrypoints.data).join(', ') || 'none' : 'unreadable';
    throw new ConfigError('policy_wasm_invalid', `policy wasm ${path}: no entrypoint ${POLICY_ENTRYPOINT} (found: ${found}); rebuild with \`npm run build:policy\``);
  }
  return policy;
}

async function readPolicyFile(path: string, what: 'wasm' | 'data'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const hint = what === 'wasm' ? '; build it with `npm run build:policy`' : '';
    throw new ConfigError(
      missing ? `policy_${what}_missing` : `policy_${what}_invalid`,
      missing ? `policy ${what} ${path}: file not found${hint}` : `policy ${what} ${path}: cannot read: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}
