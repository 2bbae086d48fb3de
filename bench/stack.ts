/**
 * `npm run bench:stack`: the cost of zero trust here. Starts the embedded stack (as `npm start`
 * does, memory stores, rotation off) and, in one run, drives the same read request
 *   1. through the full path: client --mTLS--> dev edge --mTLS--> authz, then --mTLS--> rating API;
 *   2. straight at the rating API over mTLS (as an edge would call it, x-zt-* headers set by hand);
 * each closed-loop with the same concurrency over keep-alive connections. Prints throughput and
 * p50/p99 for both and their ratios, and writes bench/results/stack.json.
 *
 * The policy data is the shipped one with the limits raised, so the figure is the cost of the path,
 * not of the 200/s global bucket.
 */
import { readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { initPki } from '../src/pki/authority.js';
import { PkiLayout } from '../src/pki/layout.js';
import { mintToken } from '../src/pki/token.js';
import { loadPkiSpec } from '../src/pki/workloads.js';
import { startStack } from '../src/stack/stack.js';

const ROOT = resolve(import.meta.dirname, '..');

interface Target {
  readonly name: string;
  readonly port: number;
  readonly agent: Agent;
  readonly headers: Record<string, string>;
}

interface Result {
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

const PATH = '/v1/tenants/acme/items/bench/ratings';

function once(t: Target, method = 'GET', body?: string): Promise<number> {
  return new Promise((resolvePromise) => {
    const req = request({ host: '127.0.0.1', port: t.port, path: PATH, method, agent: t.agent, servername: 'localhost', headers: body ? { ...t.headers, 'content-type': 'application/json' } : t.headers }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode ?? 0));
    });
    req.on('error', () => resolvePromise(0));
    req.end(body);
  });
}

async function drive(t: Target, concurrency: number, seconds: number): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const start = performance.now();
      const status = await once(t);
      latencies.push(performance.now() - start);
      if (status !== 200) errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 1000) / 1000;
  return { requests: latencies.length, errors, rps: Math.round(latencies.length / elapsed), p50_ms: q(0.5), p99_ms: q(0.99) };
}

const program = new Command('bench-stack')
  .description('Full zero-trust path versus the rating API directly over mTLS, in one run.')
  .option('--seconds <n>', 'measured seconds per target', '10')
  .option('--concurrency <n>', 'requests in flight per target', '8')
  .option('--out <file>', 'JSON output', 'bench/results/stack.json')
  .action(async (opts: { seconds: string; concurrency: string; out: string }) => {
    const seconds = Number(opts.seconds) || 10;
    const concurrency = Number(opts.concurrency) || 8;
    const work = await mkdtemp(join(tmpdir(), 'zt-bench-stack-'));
    const pkiDir = join(work, 'pki');
    const pkiConfig = join(ROOT, 'pki/workloads.yaml');
    const data = JSON.parse(await readFile(join(ROOT, 'policies/data.json'), 'utf8')) as {
      limits: Record<string, { capacity?: number; refill_per_s?: number }>;
      tiers: Record<string, { per_minute: number }>;
    };
    for (const l of Object.values(data.limits)) if (l.capacity !== undefined) Object.assign(l, { capacity: 1e7, refill_per_s: 1e7 });
    for (const t of Object.values(data.tiers)) t.per_minute = 6e8;
    process.env.POLICY_DATA = join(work, 'data.json');
    await writeFile(process.env.POLICY_DATA, JSON.stringify(data));

    const layout = new PkiLayout(pkiDir);
    const spec = loadPkiSpec(pkiConfig);
    await initPki(layout, spec);
    process.stderr.write('bench:stack starting the embedded stack\n');
    const stack = await startStack({
      pkiDir,
      pkiConfig,
      ports: { edgeUsEast: 0, edgeUsEastAdmin: 0, edgeEuCentral: 0, edgeEuCentralAdmin: 0, authz: 0, authzAdmin: 0, rating: 0, ratingAdmin: 0 },
      rotateIntervalMs: 0,
      logLevel: 'warn',
      output: () => undefined,
    });
    try {
      const read = (w: string) => Promise.all([readFile(layout.certFile(w), 'utf8'), readFile(layout.keyFile(w), 'utf8'), readFile(layout.bundle, 'utf8')]);
      const [aliceCert, aliceKey, ca] = await read('client-alice');
      const [edgeCert, edgeKey] = await read('edge-us-east');
      const token = await mintToken(layout, { sub: 'alice', tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'enterprise' }, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs: 3600_000, maxTtlMs: spec.jwt.maxTokenTtlMs });
      const full: Target = { name: 'full path (edge → authz → rating)', port: stack.ports.edgeUsEast, agent: new Agent({ keepAlive: true, maxSockets: concurrency, cert: aliceCert, key: aliceKey, ca }), headers: { authorization: `Bearer ${token}` } };
      const direct: Target = {
        name: 'rating API directly (mTLS)',
        port: stack.ports.rating,
        agent: new Agent({ keepAlive: true, maxSockets: concurrency, cert: edgeCert, key: edgeKey, ca }),
        headers: { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater', 'x-zt-client': 'spiffe://zt.local/us-east/client/alice' },
      };
      // One rating so the read has an aggregate to return; then warm both paths (JIT, connections, token cache).
      const seeded = await once(full, 'POST', JSON.stringify({ score: 4 }));
      if (seeded !== 201 && seeded !== 200) throw new Error(`seeding through the edge answered ${seeded}`);
      for (const t of [full, direct]) {
        process.stderr.write(`bench:stack warming ${t.name}\n`);
        await drive(t, concurrency, 2);
      }
      const results: Record<string, Result> = {};
      for (const t of [direct, full]) {
        process.stderr.write(`bench:stack measuring ${t.name} for ${seconds} s\n`);
        results[t.name] = await drive(t, concurrency, seconds);
      }
      const d = results[direct.name] as Result;
      const f = results[full.name] as Result;
      const ratios = { throughput_full_over_direct: Math.round((f.rps / d.rps) * 100) / 100, p50_full_over_direct: Math.round((f.p50_ms / d.p50_ms) * 100) / 100, p99_full_over_direct: Math.round((f.p99_ms / d.p99_ms) * 100) / 100 };
      process.stdout.write(`${'target'.padEnd(36)}${'req/s'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}\n`);
      for (const [name, r] of Object.entries(results)) process.stdout.write(`${name.padEnd(36)}${String(r.rps).padStart(8)}${String(r.p50_ms).padStart(9)}${String(r.p99_ms).padStart(9)}${String(r.errors).padStart(8)}\n`);
      process.stdout.write(`full / direct: throughput ${ratios.throughput_full_over_direct}, p50 ${ratios.p50_full_over_direct}x, p99 ${ratios.p99_full_over_direct}x\n`);
      const out = { when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, seconds, concurrency, runtime: stack.runtime, results, ratios };
      await mkdir(resolve(opts.out, '..'), { recursive: true });
      await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
      process.stdout.write(`wrote ${opts.out}\n`);
      full.agent.destroy();
      direct.agent.destroy();
    } finally {
      await stack.stop();
      await rm(work, { recursive: true, force: true });
    }
  });

await program.parseAsync(process.argv);
