/**
 * `npm run bench:edge`: what a user feels, the whole request path through the real Envoy, for three
 * stacks in one interleaved run (bench/edge-stacks.ts): the project, the floor (Envoy straight to
 * the rating API, no policy) and, when OPA_ENVOY_BIN and RATELIMIT_BIN name them, the references
 * (opa-envoy-plugin + envoyproxy/ratelimit). Every stack runs the same Envoy binary, the same
 * client certificate, the same 1,000 ES256 users and the same write-heavy mix with about 8% denials
 * (bench/edge-workload.ts), against the same rating API. The load comes from vegeta (VEGETA_BIN).
 *
 * Each round runs each phase for every stack in turn (a rotating order, so machine noise falls on
 * all alike): as fast as it answers (`max`), then at fixed rates (500/s and 1000/s, open loop). Per phase: req/s,
 * p50/p99, the status mix, new TLS connections (Envoy's listener ssl.handshake), and every server
 * process's CPU from /proc; the load generator's CPU apart. Prints a table, writes JSON.
 * `--profile` instead runs each stack alone at a fixed rate with `node --cpu-prof` on authz and the
 * rating API, keeps Envoy's /stats, and prints where the time goes. A script, not a test.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { runCli } from '../src/cli/run.js';
import { initPki } from '../src/pki/authority.js';
import { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../src/shared/pki/workload-material.js';
import { x5tS256 } from '../src/shared/pki/cert-thumbprint.js';
import { readSettings } from '../src/shared/settings/setting.js';
import { edgeRegions, loadTopology, workloadNamed } from '../src/shared/topology.js';
import { findEnvoy, type EnvoyInstall } from '../src/stack/envoy-bin.js';
import { REPO_ROOT } from '../src/stack/launcher.js';
import { summariseCpuProfile } from './cpuprofile.js';
import { foldRounds, goalsOf, renderGoals, renderTable, type PhaseRun, type Row } from './edge-report.js';
import { REFERENCES_BUILD, referencesMissing } from './edge-references.js';
import { BENCH_EDGE_SETTINGS } from './edge-settings.js';
import { bringUp, envoyCounters, parseEnvoyHistograms, STACK_NAMES, type BenchEdge, type StackKey, type Up } from './edge-stacks.js';
import { edgeTargets, mintEdgeUsers, writeEdgeBenchData, type Mix } from './edge-workload.js';
import { cpuSnapshot } from './proc-cpu.js';
import { attack, findVegeta, mergedReport } from './vegeta.js';
import { positiveInt } from './cli-options.js';

interface Options {
  seconds: number;
  rounds: number;
  warmup: number;
  rates: number[];
  maxWorkers: number;
  requests: number;
  references: boolean;
  profile: boolean;
  profileRate: number;
  cpuPhase: string;
  out: string;
}

/** The pause before each measured phase. */
const SETTLE_MS = 2000;

function progress(line: string): void {
  process.stderr.write(`bench:edge ${line}\n`);
}

const rateList = (text: string): number[] => text.split(',').map((t) => positiveInt('--rates')(t.trim()));

/** What every stack shares: PKI, data, users, targets, TLS files for vegeta. */
interface Setup {
  readonly work: string;
  readonly pkiDir: string;
  readonly pkiConfig: string;
  readonly dataPath: string;
  readonly jwksPath: string;
  readonly region: string;
  readonly targetsFile: string;
  readonly mix: Mix;
  readonly raised: string[];
  readonly tls: { cert: string; key: string; ca: string };
}

async function prepare(work: string, requests: number): Promise<Setup> {
  // Run as root, each service runs as its own user (as the stack does) and must reach its files in
  // here; the PKI keeps its own modes (each key readable by its owner only).
  await chmod(work, 0o711);
  const pkiDir = join(work, 'pki');
  const pkiConfig = join(REPO_ROOT, 'pki/workloads.yaml');
  const layout = new PkiLayout(pkiDir);
  const spec = loadTopology(pkiConfig);
  progress(`PKI in ${pkiDir}`);
  await initPki(layout, spec);
  const client = await readWorkloadMaterial(layout, 'client-alice');
  const region = workloadNamed(spec, 'client-alice').region;
  const otherRegion = edgeRegions(spec).find((r) => r !== region) ?? region;
  const { path: dataPath, raised } = await writeEdgeBenchData(REPO_ROOT, work, region);
  progress('minting 1,000 ES256 tokens, each bound to the bench client certificate');
  const users = await mintEdgeUsers(layout, { edgeRegion: region, otherRegion, boundTo: x5tS256(client.leaf), maxTtlMs: spec.jwt.maxTokenTtlMs });
  const { lines, mix } = edgeTargets(users, requests, region);
  const targetsFile = join(work, 'targets.jsonl');
  await writeFile(targetsFile, lines);
  const tlsDir = layout.current('client-alice');
  return { work, pkiDir, pkiConfig, dataPath, jwksPath: layout.jwks, region, targetsFile, mix, raised, tls: { cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem'), ca: join(tlsDir, 'ca.pem') } };
}

interface Tools {
  readonly envoy: EnvoyInstall;
  readonly vegeta: string;
  readonly references: { opaEnvoyBin: string; ratelimitBin: string } | undefined;
  readonly referencesSkipped: string | undefined;
}

async function tools(wantReferences: boolean): Promise<Tools> {
  const s = readSettings(BENCH_EDGE_SETTINGS);
  const envoy = await findEnvoy(s.envoyBin);
  const vegeta = await findVegeta(s.vegetaBin);
  const missing = wantReferences ? await referencesMissing(s.opaEnvoyBin, s.ratelimitBin) : '--no-references';
  if (missing !== undefined) progress(`references skipped: ${missing}. To include them, ${REFERENCES_BUILD}`);
  const references = missing === undefined && s.opaEnvoyBin !== undefined && s.ratelimitBin !== undefined ? { opaEnvoyBin: s.opaEnvoyBin, ratelimitBin: s.ratelimitBin } : undefined;
  return { envoy, vegeta, references, referencesSkipped: missing };
}

/** One phase against one edge: CPU and Envoy counters around a vegeta attack. */
async function phase(edge: BenchEdge, name: string, rate: number, o: Options, setup: Setup, vegeta: string, out: string): Promise<PhaseRun> {
  const statsBefore = await envoyCounters(edge.adminPort);
  const cpuBefore = await cpuSnapshot(edge.pids);
  const result = await attack({
    bin: vegeta,
    targetsFile: setup.targetsFile,
    rate,
    ...(rate === 0 ? { maxWorkers: o.maxWorkers } : {}),
    seconds: o.seconds,
    tls: setup.tls,
    connectTo: `localhost:443:127.0.0.1:${edge.port}`,
    out,
  });
  const cpuAfter = await cpuSnapshot(edge.pids);
  const statsAfter = await envoyCounters(edge.adminPort);
  const delta = (match: (k: string) => boolean): number => Object.keys(statsAfter).filter(match).reduce((s, k) => s + (statsAfter[k] ?? 0) - (statsBefore[k] ?? 0), 0);
  return {
    stack: edge.key,
    phase: name,
    result,
    cpuUs: Object.fromEntries(Object.keys(edge.pids).map((p) => [p, (cpuAfter[p] ?? 0) - (cpuBefore[p] ?? 0)])),
    newConnections: delta((k) => k === 'http.edge.downstream_cx_total'),
    tlsHandshakes: delta((k) => /^listener\.127\.0\.0\.1_\d+\.ssl\.handshake$/.test(k)),
  };
}

async function measure(o: Options, setup: Setup, t: Tools, up: Up): Promise<{ rows: Row[]; phases: PhaseRun[] }> {
  const phases: { name: string; rate: number }[] = [{ name: 'max', rate: 0 }, ...o.rates.map((r) => ({ name: `${r}/s`, rate: r }))];
  const resultsDir = join(setup.work, 'results');
  await mkdir(resultsDir, { recursive: true });
  for (const edge of up.edges) {
    progress(`warming ${STACK_NAMES[edge.key]} for ${o.warmup} s at ${o.rates[0] ?? 500}/s`);
    await attack({ bin: t.vegeta, targetsFile: setup.targetsFile, rate: o.rates[0] ?? 500, seconds: o.warmup, tls: setup.tls, connectTo: `localhost:443:127.0.0.1:${edge.port}`, out: join(resultsDir, `warm-${edge.key}.bin`) });
  }
  const runs: PhaseRun[] = [];
  const bins = new Map<string, string[]>();
  // Phase by phase, the stacks in a rotating order within each: the runs a ratio compares sit
  // next to each other in time, so a neighbour's burst on this shared machine falls on all alike.
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, p] of phases.entries()) {
      const n = up.edges.length;
      const shift = (r * phases.length + i) % n;
      for (const edge of [...up.edges.slice(shift), ...up.edges.slice(0, shift)]) {
        // A phase past a stack's capacity leaves queued work behind (checks, writes); let it drain
        // before the next phase, so that it is not counted there.
        await sleep(SETTLE_MS);
        progress(`round ${r + 1}/${o.rounds}: ${STACK_NAMES[edge.key]}, ${p.name}, ${o.seconds} s`);
        const out = join(resultsDir, `${edge.key}-${p.rate}-${r}.bin`);
        const run = await phase(edge, p.name, p.rate, o, setup, t.vegeta, out);
        runs.push(run);
        bins.set(`${edge.key} ${p.name}`, [...(bins.get(`${edge.key} ${p.name}`) ?? []), out]);
        progress(`  ${Math.round(run.result.answered_per_s)} req/s, p99 ${run.result.p99_ms} ms, ${JSON.stringify(run.result.status_codes)}`);
      }
    }
  }
  const rows: Row[] = [];
  for (const edge of up.edges) {
    for (const p of phases) {
      const merged = await mergedReport(t.vegeta, bins.get(`${edge.key} ${p.name}`) ?? []);
      rows.push(foldRounds(runs.filter((x) => x.stack === edge.key && x.phase === p.name), merged));
    }
  }
  return { rows, phases: runs };
}

/** Now on the clock V8's profiler stamps samples with (see cpuprofile.ts), µs. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

function machine(): Record<string, unknown> {
  return { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg_1m_at_start: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
}

async function benchmark(o: Options): Promise<void> {
  const t = await tools(o.references);
  const startLoad = machine();
  const work = await mkdtemp(join(tmpdir(), 'zt-bench-edge-'));
  let up: Up | undefined;
  try {
    const setup = await prepare(work, o.requests);
    const keys: StackKey[] = ['project', 'floor', ...(t.references === undefined ? [] : (['references'] as const))];
    up = await bringUp({ keys, work, pkiDir: setup.pkiDir, pkiConfig: setup.pkiConfig, dataPath: setup.dataPath, jwksPath: setup.jwksPath, envoy: t.envoy, region: setup.region, ...(t.references === undefined ? {} : { references: t.references }), say: progress });
    for (const line of setup.raised) progress(`raised: ${line}`);
    const { rows, phases } = await measure(o, setup, t, up);
    const goals = goalsOf(rows, o.cpuPhase);
    const endLoad = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    process.stdout.write(`\n${renderTable(rows)}\n\nratios from this run (goals, not thresholds):\n${renderGoals(goals)}\n`);
    process.stdout.write(`\nworkload: ${Object.entries(setup.mix).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}; machine: ${cpus().length} CPUs, load ${String(startLoad.loadavg_1m_at_start)} at start, ${endLoad} at end; services from ${up.stack.runtime === 'dist' ? 'dist/' : 'src/ through tsx'}\n`);
    if (t.referencesSkipped !== undefined) process.stdout.write(`references skipped: ${t.referencesSkipped}\n`);
    const out = {
      when: new Date().toISOString(),
      machine: { ...startLoad, loadavg_1m_at_end: endLoad },
      envoy: t.envoy,
      services_runtime: up.stack.runtime,
      options: o,
      stacks: Object.fromEntries(up.edges.map((e) => [e.key, STACK_NAMES[e.key]])),
      references_skipped: t.referencesSkipped ?? null,
      workload: { users: 1000, algorithm: 'ES256', targets: o.requests, mix: setup.mix },
      raised: setup.raised,
      rows,
      goals,
      rounds: phases.map((p) => ({ stack: p.stack, phase: p.phase, ...p.result, cpu_us: p.cpuUs, new_connections: p.newConnections, tls_handshakes: p.tlsHandshakes })),
      notes: [
        'one authz, one rating API and one Redis (mTLS, ACL users) serve every stack; the references add opa-envoy-plugin, envoyproxy/ratelimit and its own plaintext redis-server',
        'server CPU is utime+stime from /proc of every server process on the stack\'s path (Envoy and redis-server counted with their watchdog), over answered requests; vegeta\'s own CPU is apart',
        'the policy buckets, the Envoy backstop and the ratelimit descriptors are raised out of the way, so the figures are the path\'s',
      ],
    };
    await mkdir(resolve(o.out, '..'), { recursive: true });
    await writeFile(o.out, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`\nwrote ${o.out}\n`);
  } finally {
    await up?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function profile(o: Options): Promise<void> {
  const t = await tools(o.references);
  const work = await mkdtemp(join(tmpdir(), 'zt-bench-edge-'));
  const profilesRoot = resolve('bench/results/profiles');
  try {
    const setup = await prepare(work, o.requests);
    const keys: StackKey[] = ['project', 'floor', ...(t.references === undefined ? [] : (['references'] as const))];
    const summary: Record<string, unknown> = {};
    for (const key of keys) {
      const dir = join(profilesRoot, key);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      // Run as root, the services run as users of their own, who write their profiles here.
      await chmod(dir, 0o1777);
      const prof = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
      await mkdir(join(work, key), { mode: 0o711 });
      const up = await bringUp({ keys: [key], work: join(work, key), pkiDir: setup.pkiDir, pkiConfig: setup.pkiConfig, dataPath: setup.dataPath, jwksPath: setup.jwksPath, envoy: t.envoy, region: setup.region, ...(t.references === undefined ? {} : { references: t.references }), nodeArgs: { authz: prof, rating: prof }, say: progress });
      let run: PhaseRun;
      let pids: Record<string, number>;
      const window = { fromUs: 0, toUs: 0 };
      try {
        const edge = up.edges[0]!;
        // authz runs in every stack but is on the project's path only.
        pids = { ...(key === 'project' ? { authz: up.stack.pids.authz ?? 0 } : {}), 'rating-api': up.stack.pids.rating ?? 0 };
        progress(`profiling ${STACK_NAMES[key]}: ${o.warmup} s warm-up, then ${o.seconds} s at ${o.profileRate}/s`);
        await attack({ bin: t.vegeta, targetsFile: setup.targetsFile, rate: o.profileRate, seconds: o.warmup, tls: setup.tls, connectTo: `localhost:443:127.0.0.1:${edge.port}`, out: join(work, `${key}-warm.bin`) });
        // Envoy's histograms from here on only, not the warm-up's.
        await fetch(`http://127.0.0.1:${edge.adminPort}/reset_counters`, { method: 'POST' });
        window.fromUs = monotonicUs();
        run = await phase(edge, `${o.profileRate}/s`, o.profileRate, o, setup, t.vegeta, join(work, `${key}.bin`));
        window.toUs = monotonicUs();
        const stats = await (await fetch(`http://127.0.0.1:${edge.adminPort}/stats?usedonly`)).text();
        await writeFile(join(dir, 'envoy-stats.txt'), stats);
        const histograms = parseEnvoyHistograms(await (await fetch(`http://127.0.0.1:${edge.adminPort}/stats?usedonly&filter=rq_time`)).text());
        summary[key] = { run: { ...run.result, cpu_us: run.cpuUs }, envoy_rq_time_ms: histograms };
      } finally {
        await up.stop();
      }
      const files = await readdir(dir);
      const perProcess: Record<string, unknown> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const file = files.find((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`));
        if (file === undefined) continue;
        perProcess[name] = { file: join('bench/results/profiles', key, file), ...summariseCpuProfile(await readFile(join(dir, file), 'utf8'), REPO_ROOT, 15, window) };
      }
      Object.assign(summary[key] as object, { node_profiles: perProcess });
      process.stdout.write(`\n== ${STACK_NAMES[key]} at ${o.profileRate}/s (services from ${up.stack.runtime === 'dist' ? 'dist/' : 'src/ through tsx'}): ${Math.round(run.result.answered_per_s)} req/s, p50 ${run.result.p50_ms} ms, p99 ${run.result.p99_ms} ms\n`);
      process.stdout.write(`server CPU µs/req: ${Object.entries(run.cpuUs).map(([n, us]) => `${n} ${Math.round(us / Math.max(1, run.result.requests))}`).join(', ')}\n`);
      const h = (summary[key] as { envoy_rq_time_ms: Record<string, { p50: number; p99: number }> }).envoy_rq_time_ms;
      for (const [name, v] of Object.entries(h)) process.stdout.write(`envoy ${name}: p50 ${v.p50} ms, p99 ${v.p99} ms\n`);
      for (const [name, p] of Object.entries(perProcess) as [string, ReturnType<typeof summariseCpuProfile>][]) {
        process.stdout.write(`${name}: busy ${p.busy_ms} ms of ${p.duration_ms} ms profiled; top self time:\n`);
        for (const f of p.functions) process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${String(f.self_ms).padStart(8)} ms  ${f.name}\n`);
      }
    }
    const outFile = join(profilesRoot, 'summary.json');
    await writeFile(outFile, `${JSON.stringify({ when: new Date().toISOString(), machine: machine(), rate: o.profileRate, seconds: o.seconds, stacks: summary }, null, 2)}\n`);
    process.stdout.write(`\nwrote ${outFile} (profiles and Envoy stats beside it)\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const program = new Command('bench:edge')
  .description(
    'The full request path through the real Envoy (ENVOY_BIN) for the project, the floor (no policy) and the references (OPA_ENVOY_BIN, RATELIMIT_BIN; skipped when unset), in one interleaved run driven by vegeta (VEGETA_BIN): max req/s, p50/p99 at fixed rates, status mix, new TLS connections, server CPU per request per process. Prints a table, writes JSON.',
  )
  .option('--seconds <n>', 'seconds per measured phase and round', positiveInt('--seconds'), 8)
  .option('--rounds <n>', 'rounds; each runs every stack and phase in turn', positiveInt('--rounds'), 2)
  .option('--warmup <n>', 'seconds of warm-up per stack', positiveInt('--warmup'), 4)
  .option('--rates <list>', 'the fixed rates, per second, comma-separated', rateList, [500, 1000])
  .option('--max-workers <n>', 'vegeta workers (requests in flight) in the max phase', positiveInt('--max-workers'), 64)
  .option('--requests <n>', 'distinct requests in the targets (vegeta cycles through them)', positiveInt('--requests'), 20000)
  .option('--no-references', 'skip the references even when OPA_ENVOY_BIN and RATELIMIT_BIN are set')
  .option('--profile', 'per-process CPU profile of each stack alone (node --cpu-prof, Envoy /stats) instead of the comparison')
  .option('--profile-rate <n>', 'the fixed rate of a --profile run (below every stack\'s capacity, so that the profile is of work, not of queues)', positiveInt('--profile-rate'), 300)
  // At max every stack is loaded alike (the same requests in flight), so its CPU per answer is
  // what a request costs under load. A fixed rate below saturation adds the per-wake-up cost of an
  // idle-ish server; one past a stack's capacity measures its queues and timeouts.
  .option('--cpu-phase <phase>', 'the phase whose server CPU per request the CPU goal compares: max or a rate such as 500/s', 'max')
  .option('--out <file>', 'where the JSON results go', 'bench/results/edge.json')
  .action(async (o: Options) => {
    await (o.profile ? profile(o) : benchmark(o));
  });

process.exitCode = await runCli(program, process.argv);
