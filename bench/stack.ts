/**
 * `npm run bench:stack`: the cost of zero trust here, and of each edge. Starts the embedded stack
 * (as `npm start` does: dev edges, memory stores, rotation off), puts a real Envoy edge (the same
 * local copy of envoy/envoy.yaml that `npm start -- --edge envoy` runs) in front of the same authz
 * and rating API, and drives the same read request, closed-loop with the same concurrency over
 * keep-alive connections:
 *   1. straight at the rating API over mTLS (as an edge calls it, x-zt-* headers set by hand);
 *   2. through the dev edge: client --mTLS--> dev edge --mTLS--> authz, then --mTLS--> rating API;
 *   3. through real Envoy, the same hops.
 * The measured time is split into rounds, and each round runs every path in turn (in a rotating
 * order), so that machine noise falls on all three alike. All paths share one authz and one rating
 * API, so the differences are the edges'. Then, with authz stopped (SIGSTOP), it times 5 requests
 * through each edge: the fail-closed answer (503 `unavailable` after the 250 ms authz timeout).
 * Prints a table and writes bench/results/stack.json. A script, not a test: nothing here asserts a
 * timing.
 *
 * Every limit is raised so the figure is the cost of the path: the policy data's buckets, and the
 * Envoy copy's local_ratelimit backstop (200 at once and 200/s per edge; bench/envoy-copy.ts).
 * LOG_LEVEL is info, as `npm start` runs: the authz decision log and both edges' access logs on.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runCli } from '../src/cli/run.js';
import { initPki } from '../src/pki/authority.js';
import { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../src/shared/pki/workload-material.js';
import { mintToken } from '../src/pki/token.js';
import { x5tS256 } from '../src/shared/pki/cert-thumbprint.js';
import { loadTopology } from '../src/shared/topology.js';
import { StackChild } from '../src/stack/child.js';
import { findEnvoy } from '../src/stack/envoy-bin.js';
import { prepareEnvoyEdge } from '../src/stack/envoy-edge.js';
import { REPO_ROOT } from '../src/stack/launcher.js';
import { ORPHAN_GUARD_ENV } from '../src/stack/parent-watch.js';
import { freePort } from '../src/shared/listen.js';
import { waitUntilReady } from '../src/stack/ready.js';
import { startStack } from '../src/stack/stack.js';
import { raiseEnvoyBackstop } from './envoy-copy.js';

interface Target {
  readonly key: 'direct' | 'dev_edge' | 'envoy';
  readonly name: string;
  readonly port: number;
  readonly agent: Agent;
  readonly headers: Record<string, string>;
}

/** One closed-loop run against one target. */
interface Sample {
  readonly latencies: number[];
  readonly errors: number;
  readonly seconds: number;
}

interface Result {
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

interface FailClosed {
  readonly ms: number[];
  readonly answers: string[];
  readonly median_ms: number;
}

const PATH = '/v1/tenants/acme/items/bench/ratings';
/** How long one fail-closed request may take before it counts as not failing closed at all. */
const FAIL_CLOSED_CLIENT_TIMEOUT_MS = 5000;

function progress(line: string): void {
  process.stderr.write(`bench:stack ${line}\n`);
}

/** One request; resolves with the status (0 on a transport error or timeout) and the body. */
function once(t: Target, method = 'GET', body?: string, timeoutMs?: number): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const headers = body === undefined ? t.headers : { ...t.headers, 'content-type': 'application/json' };
    const req = request({ host: '127.0.0.1', port: t.port, path: PATH, method, agent: t.agent, servername: 'localhost', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
    });
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => done({ status: 0, body: '' }));
    req.end(body);
  });
}

async function drive(t: Target, concurrency: number, seconds: number): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const start = performance.now();
      const { status } = await once(t);
      latencies.push(performance.now() - start);
      if (status !== 200) errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

function summarise(samples: readonly Sample[]): Result {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const q = (p: number): number => round3(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return { requests: latencies.length, errors: samples.reduce((sum, s) => sum + s.errors, 0), rps: Math.round(latencies.length / seconds), p50_ms: q(0.5), p99_ms: q(0.99) };
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;
const round2 = (n: number): number => Math.round(n * 100) / 100;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Five requests one after another through an edge while authz is stopped. */
async function failClosed(t: Target, count: number): Promise<FailClosed> {
  const ms: number[] = [];
  const answers: string[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const { status, body } = await once(t, 'GET', undefined, FAIL_CLOSED_CLIENT_TIMEOUT_MS);
    ms.push(round3(performance.now() - start));
    answers.push(status === 0 ? 'no answer' : `${status} ${denyReason(body)}`.trim());
  }
  return { ms, answers, median_ms: round3(median(ms)) };
}

/** The `error` of a deny body (`{"error": ..., "request_id": ...}`), or the body's start. */
function denyReason(body: string): string {
  try {
    const error: unknown = (JSON.parse(body) as { error?: unknown }).error;
    return typeof error === 'string' ? error : body.slice(0, 40);
  } catch {
    return body.slice(0, 40);
  }
}

function positiveInt(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${text}"`);
    return n;
  };
}

interface BenchOptions {
  seconds: number;
  rounds: number;
  warmup: number;
  concurrency: number;
  out: string;
}

const program = new Command('bench:stack')
  .description(
    'Direct to the rating API, through the dev edge, and through the real Envoy (ENVOY_BIN, see npm run setup:envoy), in one run with interleaved rounds; then the fail-closed answer time of each edge with authz stopped. Prints a table, writes JSON.',
  )
  .option('--seconds <n>', 'measured seconds per path, split over the rounds', positiveInt('--seconds'), 12)
  .option('--rounds <n>', 'rounds; each runs every path in turn', positiveInt('--rounds'), 4)
  .option('--warmup <n>', 'seconds of warm-up per path before measuring', positiveInt('--warmup'), 2)
  .option('--concurrency <n>', 'requests in flight per path (closed loop, keep-alive)', positiveInt('--concurrency'), 8)
  .option('--out <file>', 'where the JSON results go', 'bench/results/stack.json')
  .action(async (opts: BenchOptions) => {
    const envoy = await findEnvoy(process.env.ENVOY_BIN ?? '.venv/bin/envoy');
    const work = await mkdtemp(join(tmpdir(), 'zt-bench-stack-'));
    // Run as root, each service runs as its own user (as the stack does) and must reach its files in
    // here; the PKI keeps its own modes (each key readable by its owner only).
    await chmod(work, 0o711);
    const pkiDir = join(work, 'pki');
    const pkiConfig = join(REPO_ROOT, 'pki/workloads.yaml');
    const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies/data.json'), 'utf8')) as {
      limits: Record<string, { capacity?: number; refill_per_s?: number }>;
      tiers: Record<string, { per_minute: number }>;
    };
    for (const l of Object.values(data.limits)) if (l.capacity !== undefined) Object.assign(l, { capacity: 1e7, refill_per_s: 1e7 });
    for (const t of Object.values(data.tiers)) t.per_minute = 6e8;
    const policyData = join(work, 'data.json');
    await writeFile(policyData, JSON.stringify(data));
    // The dev edges read the backstop from envoy.yaml too: they get a copy with it raised, as Envoy does.
    const devEdgeConfig = join(work, 'envoy-dev-edges.yaml');
    await writeFile(devEdgeConfig, await readFile(join(REPO_ROOT, 'envoy/envoy.yaml'), 'utf8'));
    progress(`dev edges: ${await raiseEnvoyBackstop(devEdgeConfig)}`);

    const layout = new PkiLayout(pkiDir);
    const spec = loadTopology(pkiConfig);
    progress(`PKI in ${pkiDir}`);
    await initPki(layout, spec);
    progress('starting the embedded stack (authz, rating API, dev edges)');
    const stack = await startStack({
      pkiDir,
      pkiConfig,
      ports: { base: 'free' },
      rotateIntervalMs: 0,
      logLevel: 'info',
      env: { POLICY_DATA: policyData, ENVOY_CONFIG: devEdgeConfig },
      output: () => undefined,
    });
    let envoyChild: StackChild | undefined;
    const agents: Agent[] = [];
    try {
      progress(`starting Envoy ${envoy.version} (${envoy.bin}) in front of the same authz and rating API`);
      const [envoyPort, envoyAdmin] = [await freePort(), await freePort()];
      const plan = await prepareEnvoyEdge({
        region: 'us-east',
        listen: { host: '127.0.0.1', port: envoyPort },
        adminPort: envoyAdmin,
        authz: { host: '127.0.0.1', port: stack.ports.authz.listen },
        rating: { host: '127.0.0.1', port: stack.ports.rating.listen },
        pkiDir,
        dir: join(work, 'envoy'),
        envoy,
        runtime: stack.runtime,
        logLevel: 'info',
      });
      await raiseEnvoyBackstop(plan.configFile);
      const child = await StackChild.start({ name: 'envoy', ...plan.launch, env: { ...process.env, [ORPHAN_GUARD_ENV]: String(process.pid) }, cwd: REPO_ROOT }, () => undefined);
      envoyChild = child;
      await waitUntilReady(child, `${plan.readyUrl} LIVE`, plan.ready, Date.now() + 30_000);

      const read = async (w: string): Promise<string[]> => {
        const m = await readWorkloadMaterial(layout, w);
        return [m.certPem, m.keyPem, m.caPem];
      };
      const [aliceCert, aliceKey, ca] = await read('client-alice');
      const [edgeCert, edgeKey] = await read('edge-us-east');
      // acme requires tokens bound to the presenting certificate: alice's, as the bench presents it.
      const boundTo = x5tS256((await readWorkloadMaterial(layout, 'client-alice')).leaf);
      const token = await mintToken(layout, { sub: 'alice', tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'enterprise' }, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs: 3600_000, maxTtlMs: spec.jwt.maxTokenTtlMs, boundTo });
      const agent = (cert: string | undefined, key: string | undefined): Agent => {
        const a = new Agent({ keepAlive: true, maxSockets: opts.concurrency, cert, key, ca });
        agents.push(a);
        return a;
      };
      const viaEdge = { authorization: `Bearer ${token}` };
      const targets: Target[] = [
        {
          key: 'direct',
          name: 'rating API directly (mTLS)',
          port: stack.ports.rating.listen,
          agent: agent(edgeCert, edgeKey),
          headers: { 'x-zt-subject': 'alice', 'x-zt-tenant': 'acme', 'x-zt-roles': 'rater', 'x-zt-client': 'spiffe://zt.local/us-east/client/alice' },
        },
        { key: 'dev_edge', name: 'dev edge -> authz -> rating', port: stack.ports.edges['us-east']?.listen ?? 0, agent: agent(aliceCert, aliceKey), headers: viaEdge },
        { key: 'envoy', name: `Envoy ${envoy.version} -> authz -> rating`, port: envoyPort, agent: agent(aliceCert, aliceKey), headers: viaEdge },
      ];
      // One rating so the read has an aggregate to return; then warm every path (JIT, connections, token cache).
      const seeded = await once(targets[1] as Target, 'POST', JSON.stringify({ score: 4 }));
      if (seeded.status !== 201 && seeded.status !== 200) throw new Error(`seeding through the dev edge answered ${seeded.status} ${seeded.body}`);
      for (const t of targets) {
        progress(`warming ${t.name} for ${opts.warmup} s`);
        await drive(t, opts.concurrency, opts.warmup);
      }
      const samples = new Map<Target['key'], Sample[]>(targets.map((t) => [t.key, []]));
      const perRound = opts.seconds / opts.rounds;
      for (let r = 0; r < opts.rounds; r++) {
        const order = [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)];
        for (const t of order) {
          progress(`round ${r + 1}/${opts.rounds}: ${t.name} for ${round2(perRound)} s`);
          samples.get(t.key)?.push(await drive(t, opts.concurrency, perRound));
        }
      }
      const results = Object.fromEntries(targets.map((t) => [t.key, summarise(samples.get(t.key) ?? [])])) as Record<Target['key'], Result>;

      const failClosedResults: Partial<Record<'dev_edge' | 'envoy', FailClosed>> = {};
      const authzPid = stack.pids.authz;
      if (authzPid === undefined) throw new Error('the stack reports no authz pid');
      // A stopped authz cannot notice that its runner is gone, so a Ctrl-C in this window must
      // resume it before the bench dies; otherwise it would stay behind, stopped, holding its ports.
      const resume = (): void => {
        try {
          process.kill(authzPid, 'SIGCONT');
        } catch {
          // Already gone.
        }
      };
      const onSignal = (signal: NodeJS.Signals): void => {
        resume();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      progress(`fail-closed: SIGSTOP authz (pid ${authzPid}), 5 requests through each edge`);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      process.kill(authzPid, 'SIGSTOP');
      try {
        for (const t of targets.filter((x) => x.key !== 'direct')) failClosedResults[t.key as 'dev_edge' | 'envoy'] = await failClosed(t, 5);
      } finally {
        resume();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress('fail-closed: SIGCONT authz');
      }

      const d = results.direct;
      const ratios = (r: Result): { throughput: number; p50: number; p99: number } => ({ throughput: round2(r.rps / d.rps), p50: round2(r.p50_ms / d.p50_ms), p99: round2(r.p99_ms / d.p99_ms) });
      const ratioTable = { dev_edge_over_direct: ratios(results.dev_edge), envoy_over_direct: ratios(results.envoy) };
      const col = (s: string | number, w: number): string => String(s).padStart(w);
      process.stdout.write(`\n${'path'.padEnd(34)}${col('req/s', 8)}${col('p50 ms', 9)}${col('p99 ms', 9)}${col('errors', 8)}${col('req/s vs direct', 17)}${col('p50 vs direct', 15)}${col('p99 vs direct', 15)}\n`);
      for (const t of targets) {
        const r = results[t.key];
        const x = ratios(r);
        process.stdout.write(`${t.name.padEnd(34)}${col(r.rps, 8)}${col(r.p50_ms, 9)}${col(r.p99_ms, 9)}${col(r.errors, 8)}${col(`${x.throughput}x`, 17)}${col(`${x.p50}x`, 15)}${col(`${x.p99}x`, 15)}\n`);
      }
      process.stdout.write(`\nfail-closed with authz stopped (SIGSTOP), 5 requests each, edge authz timeout 250 ms:\n`);
      for (const t of targets.filter((x) => x.key !== 'direct')) {
        const f = failClosedResults[t.key as 'dev_edge' | 'envoy'];
        if (f !== undefined) process.stdout.write(`${t.name.padEnd(34)}${f.ms.map((m) => `${Math.round(m)}`).join(' ')} ms -> median ${Math.round(f.median_ms)} ms; answers: ${[...new Set(f.answers)].join(', ')}\n`);
      }
      const out = {
        when: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        envoy,
        seconds: opts.seconds,
        rounds: opts.rounds,
        warmup_seconds: opts.warmup,
        concurrency: opts.concurrency,
        runtime: stack.runtime,
        log_level: 'info',
        paths: Object.fromEntries(targets.map((t) => [t.key, t.name])),
        results,
        ratios: ratioTable,
        fail_closed: failClosedResults,
        notes: ['policy limits and the Envoy local_ratelimit backstop raised out of the way', 'all paths share one authz and one rating API'],
      };
      await mkdir(resolve(opts.out, '..'), { recursive: true });
      await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
      process.stdout.write(`\nwrote ${opts.out}\n`);
    } finally {
      for (const a of agents) a.destroy();
      await envoyChild?.stop(5000);
      await stack.stop();
      await rm(work, { recursive: true, force: true });
    }
  });

process.exitCode = await runCli(program, process.argv);
