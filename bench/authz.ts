/**
 * `npm run bench:authz`: the policy service under an edge's load, against two references, in one
 * run. A script, not a test: it prints a table and writes bench/results/authz.json; nothing here
 * asserts a timing.
 *
 *   1. the service (mTLS, XFCC, ES256 JWT with the verified-token cache, opa-wasm, three Redis
 *      buckets per request): max throughput, and p50/p99 at a fixed 2,000 checks/s; ioredis
 *      auto-pipelining off and on; Redis over mTLS as the `authz` ACL user (how it runs) and a
 *      bench-only plaintext Redis without users (how it ran before), to price the TLS hop;
 *   2. an Express hello-world behind the same mTLS listener: the framework's ceiling, as a ratio;
 *      the service and the hello-world once more over h2 (one session per edge), as Envoy's authz
 *      cluster speaks to the service;
 *   3. the real OPA server (`opa run --server`, same Rego and data, mTLS): the same decisions
 *      through its REST API, policy only, as a ratio.
 *
 * The load comes from a separate process (bench/authz-loadgen.ts) over keep-alive connections, as
 * Envoy holds them. The Redis servers are throwaway ones on loopback: the TLS one from the one
 * launcher (src/stack/redis-server.ts), the plaintext one bench-only.
 *
 *   npm run bench:authz -- [--seconds 5] [--rate 2000] [--concurrency 64] [--connections 8] [--requests 20000]
 */
import { fork } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { pino } from 'pino';
import { buildApp } from '../src/authz/app.js';
import { loadConfig } from '../src/authz/config.js';
import { runCli } from '../src/cli/run.js';
import { createDeps } from '../src/authz/create-deps.js';
import { Redis } from 'ioredis';
import { FailoverBucketStore } from '../src/authz/buckets/failover-store.js';
import { MemoryBucketStore } from '../src/authz/buckets/token-bucket-memory.js';
import { RedisBucketStore } from '../src/authz/buckets/token-bucket-redis.js';
import { readWorkloadMaterial } from '../src/shared/pki/workload-material.js';
import { edgeOf, edgeRegions } from '../src/shared/topology.js';
import { createLogger } from '../src/shared/logger.js';
import { startService } from '../src/shared/service.js';
import { givenPki } from '../test/helpers/given-pki.js';
import { givenRedis, type GivenRedis } from '../test/helpers/given-redis.js';
import { startPlaintextRedis, type PlaintextRedis } from './plaintext-redis.js';
import { givenBuiltPolicy, wasmPath } from '../test/helpers/given-policy.js';
import type { LoadJob, LoadRequest, LoadResult } from './authz-loadgen.js';
import { startHelloWorld, startOpa, type Tls } from './authz-targets.js';
import { positiveInt } from './cli-options.js';
import { pidCpuUs } from './proc-cpu.js';
import { buildWorkload, writeBenchData } from './authz-workload.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** The run's settings (see the options below). */
interface Settings {
  readonly seconds: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly connections: number;
  readonly requests: number;
}

interface Row {
  readonly target: string;
  readonly mode: string;
  readonly result: LoadResult;
  /** CPU the target's server process spent per completed request, in µs (user + system). */
  readonly serverCpuUsPerReq: number;
  /** CPU redis-server spent per completed request, in µs, for the authz rows. */
  readonly redisCpuUsPerReq?: number;
}

/** CPU time of a process so far in µs: this process, or another one by PID from /proc. */
type CpuMeter = () => Promise<number>;

const selfCpu: CpuMeter = () => {
  const u = process.cpuUsage();
  return Promise.resolve(u.user + u.system);
};

function pidCpu(pid: number): CpuMeter {
  return () => pidCpuUs(pid);
}

/**
 * Runs one job in a fresh load generator process. `onSent` runs once the job has been handed over:
 * serialising it (the pre-built requests, megabytes of JSON) costs this process ~0.1 s of CPU, which
 * must not be counted as the target's when the target runs in this process.
 */
function load(job: LoadJob, onSent?: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(repoRoot, 'bench', 'authz-loadgen.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (msg: { ok: boolean; result?: LoadResult; error?: string }) => {
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(msg.error ?? 'load generator failed'));
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited ${code}`));
    });
    child.send(job);
    onSent?.();
  });
}

/** Warm-up (discarded: JIT, token cache, script load), max throughput, then the fixed rate. */
async function measure({ seconds, rate, concurrency, connections }: Settings, target: string, port: number, tls: LoadJob['tls'], requests: readonly LoadRequest[], cpu: CpuMeter, rows: Row[], redisCpu?: CpuMeter, protocol: 'http/1.1' | 'h2' = 'http/1.1'): Promise<void> {
  const base = { port, servername: 'authz', tls, requests, connections, protocol };
  const timed = async (mode: string, job: LoadJob): Promise<void> => {
    process.stderr.write(`${target}: ${mode}\n`);
    let before: Promise<number> | undefined;
    let redisBefore: Promise<number> | undefined;
    const result = await load(job, () => {
      before = cpu();
      redisBefore = redisCpu?.();
    });
    const spent = (await cpu()) - (await before!);
    const perReq = (us: number): number => us / Math.max(1, result.completed);
    const redisSpent = redisCpu === undefined || redisBefore === undefined ? undefined : (await redisCpu()) - (await redisBefore);
    rows.push({ target, mode, result, serverCpuUsPerReq: perReq(spent), ...(redisSpent === undefined ? {} : { redisCpuUsPerReq: perReq(redisSpent) }) });
  };
  process.stderr.write(`${target}: warm-up\n`);
  await load({ ...base, mode: 'max', seconds: 2, concurrency });
  await timed(`max (${concurrency} in flight)`, { ...base, mode: 'max', seconds, concurrency });
  await timed(`${rate}/s`, { ...base, mode: 'rate', seconds, rate });
}

async function main(settings: Settings): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'zt-bench-authz-'));
  let redis: GivenRedis | undefined;
  let plain: PlaintextRedis | undefined;
  // A test PKI (one CA for the service, its edges and the TLS Redis), generated in a temp dir.
  const pki = await givenPki();
  try {
    await givenBuiltPolicy();
    const { layout, spec: topology } = pki;
    const dataPath = await writeBenchData(repoRoot, work);
    process.stderr.write('minting 1,000 tokens and building the requests\n');
    const workload = await buildWorkload(layout, dataPath, settings.requests);
    redis = await givenRedis({ pki });
    plain = await startPlaintextRedis(work);

    const readTls = async (w: string): Promise<Tls> => {
      const m = await readWorkloadMaterial(layout, w);
      return { cert: m.certPem, key: m.keyPem, ca: m.caPem };
    };
    // Every edge of the topology, by workload name (the load generator picks each request's edge).
    const edgeNames = edgeRegions(topology).map((region) => edgeOf(topology, region).name);
    const edges: Record<string, Tls> = Object.fromEntries(await Promise.all(edgeNames.map(async (name) => [name, await readTls(name)] as const)));
    const rows: Row[] = [];

    for (const pipelining of [false, true]) {
      // The order alternates, so that neither transport always runs first on a machine still warming up.
      for (const transport of pipelining ? (['mTLS', 'plaintext'] as const) : (['plaintext', 'mTLS'] as const)) {
        const server = transport === 'mTLS' ? redis : plain;
        await server.flush();
        const env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, AUTHZ_LISTEN: '127.0.0.1:0', AUTHZ_ADMIN_LISTEN: '127.0.0.1:0', POLICY_WASM: wasmPath, POLICY_DATA: dataPath, ...(transport === 'mTLS' ? { REDIS_URL: redis.url } : {}) };
        const authz = await startService(
          {
            name: 'authz',
            loadConfig,
            createDeps: async (config) => {
              // Decision lines are serialised and written as in production, to /dev/null instead of a terminal.
              const logger = createLogger('authz', { destination: pino.destination({ dest: '/dev/null', sync: true }) });
              // Plaintext: the service's own store shape (Redis behind the local failure mode) on a
              // client with the factory's options, minus TLS and the ACL user. Bench-only.
              const buckets = transport === 'plaintext' ? new FailoverBucketStore(new RedisBucketStore(plaintextClient(plain!.port, config.redisTimeoutMs)), new MemoryBucketStore(), { mode: config.failureMode }) : undefined;
              const deps = await createDeps(config, { logger, ...(buckets === undefined ? {} : { buckets }) });
              setAutoPipelining(deps.buckets, pipelining);
              await waitReady(deps.buckets);
              return deps;
            },
            buildApp,
          },
          env,
        );
        try {
          await measure(settings, `authz, Redis ${transport} (auto-pipelining ${pipelining ? 'on' : 'off'})`, authz.ports.port ?? 0, edges, workload.checks, selfCpu, rows, pidCpu(server.pid ?? 0));
          // The same service over h2, as Envoy's authz cluster speaks it (one session per edge).
          if (transport === 'mTLS' && pipelining) {
            await server.flush();
            await measure(settings, `authz h2, Redis ${transport} (auto-pipelining on)`, authz.ports.port ?? 0, edges, workload.checks, selfCpu, rows, pidCpu(server.pid ?? 0), 'h2');
          }
        } finally {
          await authz.stop();
        }
      }
    }

    const hello = await startHelloWorld(await readTls('authz'));
    try {
      await measure(settings, 'express hello-world', hello.port, edges, workload.checks, selfCpu, rows);
    } finally {
      await hello.close();
    }
    const helloH2 = await startHelloWorld(await readTls('authz'), 'h2');
    try {
      await measure(settings, 'express hello-world h2', helloH2.port, edges, workload.checks, selfCpu, rows, undefined, 'h2');
    } finally {
      await helloH2.close();
    }

    const opa = await startOpa(repoRoot, { certFile: join(layout.current('authz'), 'cert.pem'), keyFile: join(layout.current('authz'), 'key.pem'), caFile: layout.bundle, dataPath }, await readTls(edgeNames[0] ?? ''));
    try {
      await measure(settings, 'opa server (policy only)', opa.port, edges, workload.opa, pidCpu(opa.child.pid!), rows);
    } finally {
      await opa.close();
    }

    report(settings, rows, workload.mix);
  } finally {
    await redis?.stop();
    await plain?.stop();
    await pki.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

/** The factory's client options (src/shared/redis-client.ts) without TLS or a user: the plaintext baseline. */
function plaintextClient(port: number, commandTimeoutMs: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, commandTimeout: commandTimeoutMs, connectTimeout: 1000, enableOfflineQueue: false, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, retryStrategy: (times) => Math.min(times * 50, 500), connectionName: 'zt-authz-buckets' });
  client.on('error', () => undefined);
  return client;
}

async function waitReady(store: { isReady(): boolean }): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!store.isReady()) {
    if (Date.now() > deadline) throw new Error('the bucket store did not connect to Redis');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The Redis store's client is private to the buckets module and has no setting for ioredis
 * auto-pipelining; ioredis reads `options.enableAutoPipelining` per command, so the bench flips it
 * on the live client to compare. Bench-only: the service runs with the store's defaults.
 */
function setAutoPipelining(store: unknown, on: boolean): void {
  const client = (store as { primary?: { client?: { options?: { enableAutoPipelining?: boolean } } } }).primary?.client;
  if (client?.options === undefined) throw new Error('cannot reach the Redis client to set auto-pipelining');
  client.options.enableAutoPipelining = on;
}

function report(settings: Settings, rows: Row[], mix: Record<string, number>): void {
  const fmt = (n: number, d = 0): string => n.toFixed(d);
  const table = rows.map((r) => ({
    target: r.target,
    mode: r.mode,
    'req/s': fmt(r.result.perS),
    'p50 µs': fmt(r.result.p50Us),
    'p90 µs': fmt(r.result.p90Us),
    'p99 µs': fmt(r.result.p99Us),
    'max µs': fmt(r.result.maxUs),
    'server CPU µs/req': fmt(r.serverCpuUsPerReq),
    'redis CPU µs/req': r.redisCpuUsPerReq === undefined ? '' : fmt(r.redisCpuUsPerReq),
    errors: r.result.errors,
    statuses: Object.entries(r.result.statuses)
      .map(([s, n]) => `${s}:${n}`)
      .join(' '),
  }));
  console.table(table);

  const maxRow = (prefix: string): Row | undefined => rows.find((r) => r.target.startsWith(prefix) && r.mode.startsWith('max'));
  const maxOf = (prefix: string): number => maxRow(prefix)?.result.perS ?? Number.NaN;
  // CPU per request at max load: what each server spends on one answer, less sensitive than
  // throughput to a load generator sharing the machine's cores.
  const cpuOf = (prefix: string): number => maxRow(prefix)?.serverCpuUsPerReq ?? Number.NaN;
  const tls = (p: 'off' | 'on'): string => `authz, Redis mTLS (auto-pipelining ${p}`;
  const plainOf = (p: 'off' | 'on'): string => `authz, Redis plaintext (auto-pipelining ${p}`;
  const bestCpu = Math.min(cpuOf(tls('off')), cpuOf(tls('on')));
  const authzOff = maxOf(tls('off'));
  const authzOn = maxOf(tls('on'));
  const best = Math.max(authzOff, authzOn);
  const bestPlain = Math.max(maxOf(plainOf('off')), maxOf(plainOf('on')));
  const bestPlainCpu = Math.min(cpuOf(plainOf('off')), cpuOf(plainOf('on')));
  const tlsCost = 1 - best / bestPlain;
  const atRate = rows.filter((r) => r.target.startsWith('authz, Redis mTLS') && !r.mode.startsWith('max'));
  const bestP99 = Math.min(...atRate.map((r) => r.result.p99Us));
  const summary = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    settings: { seconds: settings.seconds, rate: settings.rate, concurrency: settings.concurrency, connections_per_edge: settings.connections },
    workload_mix: mix,
    goals: {
      p99_at_rate_us: { measured: Math.round(bestP99), goal: 2000, met: bestP99 <= 2000 },
      express_ratio: { measured: +(best / maxOf('express')).toFixed(3), goal: 0.6, met: best / maxOf('express') >= 0.6 },
      // The same over h2 (Envoy's authz cluster), against the hello-world over h2.
      express_ratio_h2: { measured: +(maxOf('authz h2') / maxOf('express hello-world h2')).toFixed(3), goal: 0.6, met: maxOf('authz h2') / maxOf('express hello-world h2') >= 0.6 },
      opa_ratio: { measured: +(best / maxOf('opa')).toFixed(3), goal: 1.5, met: best / maxOf('opa') >= 1.5 },
      redis_tls_throughput_cost: { measured: +tlsCost.toFixed(3), goal: 0.1, met: tlsCost < 0.1 },
    },
    redis_tls: {
      max_per_s: { mtls: Math.round(best), plaintext: Math.round(bestPlain) },
      server_cpu_us_per_req: { mtls: +bestCpu.toFixed(1), plaintext: +bestPlainCpu.toFixed(1) },
      per_pipelining: {
        off: { mtls: Math.round(maxOf(tls('off'))), plaintext: Math.round(maxOf(plainOf('off'))) },
        on: { mtls: Math.round(maxOf(tls('on'))), plaintext: Math.round(maxOf(plainOf('on'))) },
      },
    },
    cpu_ratios: {
      express_cpu_per_req_over_authz: +(cpuOf('express') / bestCpu).toFixed(3),
      express_h2_cpu_per_req_over_authz_h2: +(cpuOf('express hello-world h2') / cpuOf('authz h2')).toFixed(3),
      opa_cpu_per_req_over_authz: +(cpuOf('opa') / bestCpu).toFixed(3),
    },
    auto_pipelining: { off_max_per_s: Math.round(authzOff), on_max_per_s: Math.round(authzOn) },
    rows: rows.map((r) => ({ target: r.target, mode: r.mode, ...r.result })),
  };
  console.log(`\nworkload: ${Object.entries(mix).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}`);
  for (const [name, g] of Object.entries(summary.goals)) console.log(`${name}: ${g.measured} (goal ${name.endsWith('_us') || name.endsWith('_cost') ? '<' : '>='}${name.endsWith('_us') ? '=' : ''} ${g.goal}) ${g.met ? 'met' : 'NOT met'}`);
  console.log(`Redis over mTLS vs plaintext, best of pipelining off/on: ${Math.round(best)} vs ${Math.round(bestPlain)} checks/s (${(tlsCost * 100).toFixed(1)}% cost), authz CPU ${bestCpu.toFixed(1)} vs ${bestPlainCpu.toFixed(1)} µs/check`);
  console.log(`server CPU per request, reference / authz: express ${summary.cpu_ratios.express_cpu_per_req_over_authz}, opa ${summary.cpu_ratios.opa_cpu_per_req_over_authz}`);
  void writeResults(summary);
}

async function writeResults(summary: unknown): Promise<void> {
  const dir = join(repoRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'authz.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nwrote ${join('bench', 'results', 'authz.json')}`);
}

const program = new Command('bench:authz')
  .description(
    'The policy service under an edge-like mTLS keep-alive load (a separate process), against an Express hello-world and the real OPA server, in one run. Prints a table; writes bench/results/authz.json.',
  )
  .option('--seconds <n>', 'measured seconds per phase', positiveInt('--seconds'), 5)
  .option('--rate <n>', 'the fixed rate for the p50/p99 phase, checks/s', positiveInt('--rate'), 2000)
  .option('--concurrency <n>', 'requests in flight in the max-throughput phase', positiveInt('--concurrency'), 64)
  .option('--connections <n>', 'keep-alive connections, as an edge holds them', positiveInt('--connections'), 8)
  .option('--requests <n>', 'requests per max-throughput phase', positiveInt('--requests'), 20000)
  .action(async (settings: Settings) => main(settings));

process.exitCode = await runCli(program, process.argv);
