/**
 * `npm run bench:rating`: the rating API's own cost, with nothing in front of it. Starts the rating
 * API as `npm start` does (a child process, LOG_LEVEL=info, its output piped to this process), once
 * on the memory store and once on a TLS-only redis-server (src/stack/redis-server.ts), and drives
 * it straight over mTLS presenting the us-east edge's certificate, with the x-zt-* headers authz
 * would have attached: a write-heavy mix (POSTs from many users on many items, some GETs),
 * closed-loop over keep-alive connections. Reports req/s, p50/p99 and the server's CPU per request
 * (user + system ticks of the child, from /proc/<pid>/stat, over the measured window only).
 *
 * With `--cpu-prof <dir>` the child runs under `node --cpu-prof`, and the profile's samples taken
 * during the measured window are summed by function (self time) and by module: the table the
 * rating API's structural work is chosen from. Prints tables and writes bench/results/rating.json.
 * A script, not a test: nothing here asserts a timing.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runCli } from '../src/cli/run.js';
import { initPki } from '../src/pki/authority.js';
import { freePort } from '../src/shared/listen.js';
import { PkiLayout, REDIS_SERVER_WORKLOAD } from '../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../src/shared/pki/workload-material.js';
import { loadTopology, workloadNamed } from '../src/shared/topology.js';
import { StackChild } from '../src/stack/child.js';
import { chooseRuntime, REPO_ROOT, serviceLaunch, watchdogLaunch, type Runtime } from '../src/stack/launcher.js';
import { ORPHAN_GUARD_ENV } from '../src/stack/parent-watch.js';
import { httpReady, waitUntilReady } from '../src/stack/ready.js';
import { redisReady, redisServerArgs } from '../src/stack/redis-server.js';
import { prng } from '../test/helpers/prng.js';
import { summariseCpuProfile, type ProfileSummary } from './cpuprofile.js';
import { pidCpuUs } from './proc-cpu.js';
import { positiveInt } from './cli-options.js';

type Store = 'memory' | 'redis';

interface BenchOptions {
  duration: number;
  warmup: number;
  connections: number;
  users: number;
  items: number;
  reads: number;
  stores: Store[];
  cpuProf?: string;
  top: number;
  out: string;
}

interface Sample {
  readonly latencies: number[];
  readonly statuses: Record<string, number>;
  readonly seconds: number;
}

interface StoreResult {
  readonly requests: number;
  readonly errors: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** The rating API's CPU (user + system) over the window, per request answered. */
  readonly cpu_us_per_request: number;
  readonly cpu_percent: number;
  readonly load_before: readonly number[];
  readonly load_after: readonly number[];
  readonly profile?: RatingProfile;
}

/** The rating API's profile over the measured window, and where it was written. */
interface RatingProfile extends ProfileSummary {
  readonly file: string;
}

const TENANT = 'acme';
const CLIENT = 'spiffe://zt.local/us-east/client/alice';
const HOST = '127.0.0.1';

function progress(line: string): void {
  process.stderr.write(`bench:rating ${line}\n`);
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

function share(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`--reads must be a share from 0 to 1, got "${text}"`);
  return n;
}

function storeList(text: string): Store[] {
  const stores = text.split(',').map((s) => s.trim());
  for (const s of stores) if (s !== 'memory' && s !== 'redis') throw new InvalidArgumentError(`--stores takes memory and/or redis, got "${s}"`);
  return stores as Store[];
}

interface Driver {
  readonly port: number;
  readonly agent: Agent;
  readonly opts: BenchOptions;
}

/** One request as an edge sends it after authz allowed it; resolves with the status (0: transport error). */
function send(d: Driver, random: () => number, seq: number): Promise<number> {
  const user = `u${Math.floor(random() * d.opts.users)}`;
  const item = `item-${Math.floor(random() * d.opts.items)}`;
  const read = random() < d.opts.reads;
  const headers: Record<string, string> = {
    'x-zt-subject': user,
    'x-zt-tenant': TENANT,
    'x-zt-roles': 'rater',
    'x-zt-client': CLIENT,
    'x-request-id': `bench-${process.pid}-${seq}`,
  };
  let body: string | undefined;
  if (!read) {
    const score = 1 + Math.floor(random() * 5);
    body = JSON.stringify(random() < 0.3 ? { score, comment: `bench comment ${seq % 97}` } : { score });
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((done) => {
    const req = request({ host: HOST, port: d.port, path: `/v1/tenants/${TENANT}/items/${item}/ratings`, method: read ? 'GET' : 'POST', agent: d.agent, servername: 'localhost', headers }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => done(0));
    req.end(body);
  });
}

async function drive(d: Driver, seconds: number, seed: number): Promise<Sample> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const end = performance.now() + seconds * 1000;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    const random = prng(seed * 7919 + w);
    while (performance.now() < end) {
      const start = performance.now();
      const status = await send(d, random, seq++);
      latencies.push(performance.now() - start);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: d.opts.connections }, (_, w) => worker(w)));
  return { latencies, statuses, seconds: (performance.now() - started) / 1000 };
}

interface ServerUnderTest {
  readonly rating: StackChild;
  readonly port: number;
  stop(): Promise<void>;
}

/** The rating API (and, for `redis`, a TLS-only redis-server), as the embedded stack starts them. */
async function startRating(store: Store, pkiDir: string, pkiConfig: string, runtime: Runtime, work: string, profileDir: string | undefined): Promise<ServerUnderTest> {
  const children: StackChild[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children.reverse()) await c.stop(10_000);
  };
  const deadline = Date.now() + 60_000;
  const env: NodeJS.ProcessEnv = { ...process.env, ZT_PKI_DIR: pkiDir, ZT_PKI_CONFIG: pkiConfig, LOG_LEVEL: 'info', [ORPHAN_GUARD_ENV]: String(process.pid) };
  delete env.REDIS_URL;
  try {
    if (store === 'redis') {
      const port = await freePort(HOST);
      const dataDir = await mkdtemp(join(work, 'redis-'));
      const redis = await StackChild.start({ name: 'redis', ...watchdogLaunch({ command: 'redis-server', args: redisServerArgs({ pkiDir, port, bind: [HOST], dataDir, appendOnly: false }) }, runtime), env, cwd: REPO_ROOT }, () => undefined);
      children.push(redis);
      const server = { url: new URL(`rediss://${HOST}:${port}`), spiffeId: workloadNamed(loadTopology(pkiConfig), REDIS_SERVER_WORKLOAD).spiffeId };
      await waitUntilReady(redis, `PING over mTLS on ${port}`, redisReady(pkiDir, server), deadline);
      env.REDIS_URL = `rediss://${HOST}:${port}`;
    }
    const [port, admin] = [await freePort(HOST), await freePort(HOST)];
    const launch = serviceLaunch('rating', runtime);
    const args = profileDir === undefined ? launch.args : ['--cpu-prof', '--cpu-prof-dir', profileDir, ...launch.args];
    const rating = await StackChild.start({ name: 'rating', command: launch.command, args, env: { ...env, RATING_LISTEN: `${HOST}:${port}`, RATING_ADMIN_LISTEN: `${HOST}:${admin}` }, cwd: REPO_ROOT }, () => undefined);
    children.push(rating);
    await waitUntilReady(rating, `http://${HOST}:${admin}/readyz`, httpReady(`http://${HOST}:${admin}/readyz`), deadline);
    return { rating, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function summarise(samples: readonly Sample[]): Pick<StoreResult, 'requests' | 'errors' | 'statuses' | 'rps' | 'p50_ms' | 'p99_ms'> {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const statuses: Record<string, number> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const errors = Object.entries(statuses).reduce((n, [k, v]) => (k === '200' || k === '201' ? n : n + v), 0);
  const q = (p: number): number => round3(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return { requests: latencies.length, errors, statuses, rps: Math.round(latencies.length / seconds), p50_ms: q(0.5), p99_ms: q(0.99) };
}

async function benchStore(store: Store, opts: BenchOptions, ctx: { pkiDir: string; pkiConfig: string; runtime: Runtime; work: string; edge: { cert: string; key: string; ca: string } }): Promise<StoreResult> {
  const profileDir = opts.cpuProf === undefined ? undefined : resolve(opts.cpuProf, store);
  if (profileDir !== undefined) {
    await rm(profileDir, { recursive: true, force: true });
    await mkdir(profileDir, { recursive: true });
  }
  progress(`${store}: starting the rating API (${ctx.runtime})`);
  const server = await startRating(store, ctx.pkiDir, ctx.pkiConfig, ctx.runtime, ctx.work, profileDir);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, cert: ctx.edge.cert, key: ctx.edge.key, ca: ctx.edge.ca });
  let window: { from: number; to: number; result: StoreResult };
  try {
    const driver: Driver = { port: server.port, agent, opts };
    progress(`${store}: warming up for ${opts.warmup} s (${opts.connections} connections)`);
    await drive(driver, opts.warmup, 1);
    progress(`${store}: measuring for ${opts.duration} s`);
    const loadBefore = loadavg().map(round2);
    const cpuBefore = await pidCpuUs(server.rating.pid);
    const from = Number(process.hrtime.bigint() / 1000n);
    const sample = await drive(driver, opts.duration, 2);
    const to = Number(process.hrtime.bigint() / 1000n);
    const cpuUs = (await pidCpuUs(server.rating.pid)) - cpuBefore;
    const s = summarise([sample]);
    window = {
      from,
      to,
      result: { ...s, cpu_us_per_request: Math.round(cpuUs / Math.max(s.requests, 1)), cpu_percent: round2((cpuUs / 1e6 / sample.seconds) * 100), load_before: loadBefore, load_after: loadavg().map(round2) },
    };
  } finally {
    agent.destroy();
    await server.stop();
  }
  if (profileDir === undefined) return window.result;
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader hooks run in another).
  const file = (await readdir(profileDir)).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
  if (file === undefined) throw new Error(`the rating API left no .cpuprofile in ${profileDir}`);
  const summary = summariseCpuProfile(await readFile(join(profileDir, file), 'utf8'), REPO_ROOT, opts.top, { fromUs: window.from, toUs: window.to });
  return { ...window.result, profile: { file: join(profileDir, file), ...summary } };
}

function printProfile(store: Store, p: RatingProfile, requests: number): void {
  process.stdout.write(`\n${store}: top self time in the measured window (busy ${p.busy_ms} ms of ${p.duration_ms} ms; ${p.file})\n`);
  for (const [title, rows] of [['function', p.functions], ['module', p.modules]] as const) {
    process.stdout.write(`${title.padEnd(90)}${'self ms'.padStart(10)}${'%'.padStart(8)}${'µs/req'.padStart(9)}\n`);
    for (const r of rows) {
      const usPerRequest = round2((r.self_ms * 1000) / Math.max(requests, 1));
      process.stdout.write(`${r.name.slice(0, 89).padEnd(90)}${String(r.self_ms).padStart(10)}${(r.share * 100).toFixed(1).padStart(8)}${String(usPerRequest).padStart(9)}\n`);
    }
  }
}

const program = new Command('bench:rating')
  .description(
    'The rating API alone, driven over mTLS as an edge drives it (x-zt-* headers set by hand): a write-heavy mix, closed loop, on the memory store and on a TLS-only Redis. Reports req/s, p50/p99 and the server CPU per request; --cpu-prof adds the top self-time functions. Prints tables, writes JSON.',
  )
  .option('--duration <s>', 'measured seconds per store', positiveInt('--duration'), 10)
  .option('--warmup <s>', 'seconds of warm-up per store before measuring', positiveInt('--warmup'), 3)
  .option('--connections <n>', 'keep-alive connections, one request in flight on each (closed loop)', positiveInt('--connections'), 16)
  .option('--users <n>', 'distinct subjects that write', positiveInt('--users'), 2000)
  .option('--items <n>', 'distinct items rated', positiveInt('--items'), 500)
  .option('--reads <share>', 'share of requests that are GETs of an aggregate (the rest are POSTs)', share, 0.2)
  .option('--stores <list>', 'memory, redis, or both (comma-separated)', storeList, ['memory', 'redis'] as Store[])
  .option('--cpu-prof <dir>', 'run the rating API under node --cpu-prof, write profiles under <dir>/<store>/ and print the top self time')
  .option('--top <n>', 'rows of the profile tables', positiveInt('--top'), 25)
  .option('--out <file>', 'where the JSON results go', 'bench/results/rating.json')
  .action(async (opts: BenchOptions) => {
    const work = await mkdtemp(join(tmpdir(), 'zt-bench-rating-'));
    try {
      const pkiDir = join(work, 'pki');
      const pkiConfig = join(REPO_ROOT, 'pki/workloads.yaml');
      const layout = new PkiLayout(pkiDir);
      progress(`PKI in ${pkiDir}`);
      await initPki(layout, loadTopology(pkiConfig));
      const { runtime } = await chooseRuntime('auto');
      const m = await readWorkloadMaterial(layout, 'edge-us-east');
      const ctx = { pkiDir, pkiConfig, runtime, work, edge: { cert: m.certPem, key: m.keyPem, ca: m.caPem } };
      const results: Partial<Record<Store, StoreResult>> = {};
      for (const store of opts.stores) results[store] = await benchStore(store, opts, ctx);

      const col = (s: string | number, w: number): string => String(s).padStart(w);
      process.stdout.write(`\n${'store'.padEnd(8)}${col('req/s', 8)}${col('p50 ms', 9)}${col('p99 ms', 9)}${col('CPU µs/req', 12)}${col('CPU %', 8)}${col('errors', 8)}  load (1/5/15 min, before -> after)\n`);
      for (const [store, r] of Object.entries(results)) {
        process.stdout.write(`${store.padEnd(8)}${col(r.rps, 8)}${col(r.p50_ms, 9)}${col(r.p99_ms, 9)}${col(r.cpu_us_per_request, 12)}${col(r.cpu_percent, 8)}${col(r.errors, 8)}  ${r.load_before.join('/')} -> ${r.load_after.join('/')}\n`);
      }
      for (const [store, r] of Object.entries(results)) if (r.profile !== undefined) printProfile(store as Store, r.profile, r.requests);
      const out = {
        when: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        runtime,
        log_level: 'info',
        duration_seconds: opts.duration,
        warmup_seconds: opts.warmup,
        connections: opts.connections,
        mix: { users: opts.users, items: opts.items, read_share: opts.reads },
        results,
      };
      await mkdir(resolve(opts.out, '..'), { recursive: true });
      await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
      process.stdout.write(`\nwrote ${opts.out}\n`);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

process.exitCode = await runCli(program, process.argv);
