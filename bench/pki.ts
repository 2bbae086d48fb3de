/**
 * `npm run bench:pki`: times `scripts/pki.ts init` for the whole stack (root, intermediate, every
 * leaf of pki/workloads.yaml, JWT key) and `scripts/rotate-certs.ts --force` (every leaf), median of N runs each, both as
 * the in-process operation and as the whole command (including Node and tsx start-up). Prints a
 * table and writes bench/results/pki.json. Goals: init <= 2 s, rotating every leaf <= 1 s.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { initPki } from '../src/pki/authority.js';
import { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { withPkiLock } from '../src/pki/lock.js';
import { rotate } from '../src/pki/rotate.js';
import { loadTopology } from '../src/shared/topology.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const CONFIG = join(ROOT, 'pki/workloads.yaml');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

async function timeCommand(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', script), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  return performance.now() - t;
}

const program = new Command('bench-pki')
  .description('Time pki init and rotate-certs --force (median of N).')
  .option('--runs <n>', 'runs per measurement', '5')
  .option('--out <file>', 'JSON output', 'bench/results/pki.json')
  .action(async (opts: { runs: string; out: string }) => {
    const runs = Math.max(1, Number(opts.runs) || 5);
    const spec = loadTopology(CONFIG);
    const work = await mkdtemp(join(tmpdir(), 'zt-bench-pki-'));
    const samples = { init_op: [] as number[], rotate_op: [] as number[], init_cmd: [] as number[], rotate_cmd: [] as number[] };
    try {
      for (let i = 0; i < runs; i++) {
        process.stderr.write(`bench:pki run ${i + 1}/${runs}\n`);
        const layout = new PkiLayout(join(work, `op-${i}`));
        let t = performance.now();
        await initPki(layout, spec);
        samples.init_op.push(performance.now() - t);
        t = performance.now();
        await withPkiLock(layout, () => rotate(layout, spec, { force: true }), { wait: false });
        samples.rotate_op.push(performance.now() - t);
        const env = { ZT_PKI_DIR: join(work, `cmd-${i}`), ZT_PKI_CONFIG: CONFIG };
        samples.init_cmd.push(await timeCommand('pki.ts', ['init'], env));
        samples.rotate_cmd.push(await timeCommand('rotate-certs.ts', ['--force'], env));
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const result = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      runs,
      median_ms: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(median(v))])),
      samples_ms: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(Math.round)])),
      goals_ms: { init_op: 2000, rotate_op: 1000 },
    };
    const rows = [
      ['pki init (operation)', result.median_ms.init_op, '<= 2000'],
      [`rotate --force, ${spec.workloads.size} leaves (operation)`, result.median_ms.rotate_op, '<= 1000'],
      ['pki init (whole command)', result.median_ms.init_cmd, ''],
      ['rotate-certs --force (whole command)', result.median_ms.rotate_cmd, ''],
    ];
    process.stdout.write(`${'measurement'.padEnd(40)}${'median ms'.padStart(10)}  goal\n`);
    for (const [name, ms, goal] of rows) process.stdout.write(`${String(name).padEnd(40)}${String(ms).padStart(10)}  ${goal}\n`);
    await mkdir(resolve(opts.out, '..'), { recursive: true });
    await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${opts.out}\n`);
  });

await program.parseAsync(process.argv);
