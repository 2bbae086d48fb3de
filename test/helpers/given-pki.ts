import { rmSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { initPki } from '../../src/pki/authority.js';
import { PkiLayout } from '../../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { loadTopology, type Topology } from '../../src/shared/topology.js';

/** The committed declaration every test PKI starts from. */
export const WORKLOADS_YAML = resolve(import.meta.dirname, '../../pki/workloads.yaml');

/** A PKI generated for a test into its own temporary directory. */
export interface TestPki {
  readonly dir: string;
  readonly layout: PkiLayout;
  readonly spec: Topology;
  /** The workloads.yaml this PKI was issued from (a copy inside the temp dir). */
  readonly configFile: string;
  /** PEM material for a Node TLS context: the workload's current version, read as services read it. */
  tls(workload: string): Promise<{ cert: string; key: string; ca: string }>;
  /**
   * The path of one file of a workload's current version, for tools that take a path (openssl,
   * Envoy). Only for tests that do not rotate at the same time: services read through
   * readWorkloadMaterial, which resolves `current` once for all three files.
   */
  file(workload: string, name: 'cert.pem' | 'key.pem' | 'ca.pem'): string;
  spiffeId(workload: string): string;
  cleanup(): Promise<void>;
}

export interface GivenPkiOptions {
  /** Changes to the declaration, merged over pki/workloads.yaml (e.g. `{ defaults: { ttl: '10m' } }`). */
  readonly patch?: Record<string, unknown>;
  /** Trust domain override (a foreign CA for negative tests). */
  readonly trustDomain?: string;
  readonly now?: Date;
}

let template: Promise<string> | undefined;

/**
 * Generates a PKI at test time into a fresh temporary directory. The default PKI is generated once
 * per test run and copied for each caller (key generation is the slow part); any option makes a
 * fresh one.
 */
export async function givenPki(opts: GivenPkiOptions = {}): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-pki-'));
  // Searchable and readable by others, as pki/ in a checkout is: the embedded stack, run as root,
  // runs each service as a user of its own, who must reach workloads.yaml and its own directory.
  await chmod(dir, 0o755);
  const configFile = join(dir, 'workloads.yaml');
  const base = parse(await readFile(WORKLOADS_YAML, 'utf8')) as Record<string, unknown>;
  await writeFile(configFile, stringify(deepMerge(base, opts.patch ?? {})));
  const pkiDir = join(dir, 'out');
  const fresh = opts.patch !== undefined || opts.trustDomain !== undefined || opts.now !== undefined;
  if (fresh) {
    await initPki(new PkiLayout(pkiDir), loadTopology(configFile, opts.trustDomain), opts.now ? { now: opts.now } : {});
  } else {
    template ??= makeTemplate();
    await cp(await template, pkiDir, { recursive: true, verbatimSymlinks: true });
  }
  const layout = new PkiLayout(pkiDir);
  const spec = loadTopology(configFile, opts.trustDomain);
  return {
    dir: pkiDir,
    layout,
    spec,
    configFile,
    async tls(workload) {
      const m = await readWorkloadMaterial(layout, workload);
      return { cert: m.certPem, key: m.keyPem, ca: m.caPem };
    },
    file: (workload, name) => join(layout.current(workload), name),
    spiffeId(workload) {
      const w = spec.workloads.get(workload);
      if (!w) throw new Error(`no workload ${workload}`);
      return w.spiffeId;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function makeTemplate(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-pki-template-'));
  await initPki(new PkiLayout(dir), loadTopology(WORKLOADS_YAML));
  // The template lives for the whole test run; exit handlers must be synchronous.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = isObject(v) && isObject(b) ? deepMerge(b, v) : v;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
