/**
 * `npm run bench:stream`: the rating stream under load, through the edge. Starts authz and the
 * rating API as `npm start` does (memory stores, rotation off) behind one edge (the real Envoy on a
 * loopback copy of envoy/envoy.yaml by default, or the dev edge), opens N subscribers over the edge
 * (each its own subject and token, every one presenting a client certificate), then writes ratings
 * over REST through the same edge at a fixed rate, open loop, and measures for every write and every
 * subscriber the delivery latency from the write's 201 to the subscriber's `update` (matched by the
 * item's sequence number, which the 201 carries). Meanwhile it samples the rating API's RSS and CPU
 * (and the edge's and authz's CPU) from /proc. Then the same with 1 subscriber. Prints a table and
 * writes bench/results/stream.json. A script, not a test: nothing here asserts a timing.
 *
 * Every limit that is not under test is raised out of the way: the policy's buckets and tiers, the
 * Envoy copy's local_ratelimit backstop (bench/envoy-copy.ts), and the subscribers are distinct subjects. The
 * subscribers and the writer run in this process, on the same machine as the stack: their CPU is
 * part of the picture, and the table says how many cores there were.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Worker } from 'node:worker_threads';
import { runCli } from '../src/cli/run.js';
import { initPki } from '../src/pki/authority.js';
import { mintToken } from '../src/pki/token.js';
import { x5tS256 } from '../src/shared/pki/cert-thumbprint.js';
import { freePort } from '../src/shared/listen.js';
import { PkiLayout } from '../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../src/shared/pki/workload-material.js';
import { loadTopology } from '../src/shared/topology.js';
import { StackChild } from '../src/stack/child.js';
import { findEnvoy } from '../src/stack/envoy-bin.js';
import { prepareEnvoyEdge } from '../src/stack/envoy-edge.js';
import { REPO_ROOT } from '../src/stack/launcher.js';
import { ORPHAN_GUARD_ENV } from '../src/stack/parent-watch.js';
import { waitUntilReady } from '../src/stack/ready.js';
import { startStack, type RunningStack } from '../src/stack/stack.js';
import { raiseEnvoyBackstop } from './envoy-copy.js';
import type { FromWorker, SubscribersInput, ToWorker } from './stream-subscribers.js';
import { positiveInt } from './cli-options.js';

interface BenchOptions {
  workers: number;
  subscribers: number;
  rate: number;
  seconds: number;
  items: number;
  edge: 'envoy' | 'dev';
  out: string;
}

interface Pem {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

interface Usage {
  readonly cpu_percent: number;
  readonly rss_start_mib: number;
  readonly rss_max_mib: number;
  readonly rss_end_mib: number;
}

interface RunResult {
  readonly subscribers: number;
  readonly items: number;
  readonly target_writes_per_s: number;
  readonly writes: number;
  readonly write_errors: number;
  readonly write_error_kinds: Readonly<Record<string, number>>;
  readonly writes_per_s: number;
  readonly write_p50_ms: number;
  readonly write_p99_ms: number;
  readonly deliveries_expected: number;
  readonly deliveries: number;
  /** From the write's 201 to the subscriber's update; negative when the update came first. */
  readonly delivery_ms: { readonly p50: number; readonly p99: number; readonly max: number; readonly min: number };
  /** From the moment the write was sent to the subscriber's update. */
  readonly delivery_from_send_ms: { readonly p50: number; readonly p99: number; readonly max: number };
  /** How many updates arrived before their write's 201. */
  readonly before_201: number;
  /** Updates that matched no 201 (their write failed or timed out, or they came after the window). */
  readonly unmatched_updates: number;
  readonly closes: number;
  readonly rating_api: Usage;
  readonly edge_cpu_percent: number;
  readonly authz_cpu_percent: number;
  /** This process: the subscribers and the writer. */
  readonly bench_cpu_percent: number;
}

const CLK_TCK = 100;
const TENANT = 'acme';

function progress(line: string): void {
  process.stderr.write(`bench:stream ${line}\n`);
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

function quantile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  return round2(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0);
}

/** CPU ticks (user + system) and RSS of a process, from /proc. */
async function procSample(pid: number): Promise<{ ticks: number; rss: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
  return { ticks, rss };
}

/** Samples a process every second until stopped; the CPU share over the whole window. */
function watchProcess(pid: number | undefined): { stop(): Promise<Usage> } {
  if (pid === undefined) return { stop: () => Promise.resolve({ cpu_percent: 0, rss_start_mib: 0, rss_max_mib: 0, rss_end_mib: 0 }) };
  const started = performance.now();
  const first = procSample(pid);
  let max = 0;
  const timer = setInterval(() => {
    void procSample(pid).then((s) => (max = Math.max(max, s.rss)), () => undefined);
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      const [a, b] = [await first, await procSample(pid)];
      const seconds = (performance.now() - started) / 1000;
      const mib = (n: number): number => round2(n / 1024 / 1024);
      return { cpu_percent: round2(((b.ticks - a.ticks) / CLK_TCK / seconds) * 100), rss_start_mib: mib(a.rss), rss_max_mib: mib(Math.max(max, b.rss)), rss_end_mib: mib(b.rss) };
    },
  };
}

/** The policy data with every bucket and tier raised out of the way. */
async function raisedPolicyData(work: string): Promise<string> {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies/data.json'), 'utf8')) as { limits: Record<string, { capacity?: number; refill_per_s?: number }>; tiers: Record<string, { per_minute: number }> };
  for (const l of Object.values(data.limits)) if (l.capacity !== undefined) Object.assign(l, { capacity: 1e7, refill_per_s: 1e7 });
  for (const t of Object.values(data.tiers)) t.per_minute = 6e8;
  const file = join(work, 'data.json');
  await writeFile(file, JSON.stringify(data));
  return file;
}

/** The edge under test: its port and pid. */
interface Edge {
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

async function startEdge(kind: BenchOptions['edge'], stack: RunningStack, work: string, pkiDir: string): Promise<Edge> {
  if (kind === 'dev') {
    const port = stack.ports.edges['us-east']?.listen ?? 0;
    return { port, pid: stack.pids['edge-us-east'], stop: () => Promise.resolve() };
  }
  const envoy = await findEnvoy(process.env.ENVOY_BIN ?? '.venv/bin/envoy');
  const [port, admin] = [await freePort(), await freePort()];
  const plan = await prepareEnvoyEdge({
    region: 'us-east',
    listen: { host: '127.0.0.1', port },
    adminPort: admin,
    authz: { host: '127.0.0.1', port: stack.ports.authz.listen },
    rating: { host: '127.0.0.1', port: stack.ports.rating.listen },
    pkiDir,
    dir: join(work, 'envoy'),
    envoy,
    runtime: stack.runtime,
    logLevel: 'info',
  });
  await raiseEnvoyBackstop(plan.configFile);
  progress(`Envoy ${envoy.version} (${envoy.bin}) on 127.0.0.1:${port}`);
  const child = await StackChild.start({ name: 'envoy', ...plan.launch, env: { ...process.env, [ORPHAN_GUARD_ENV]: String(process.pid) }, cwd: REPO_ROOT }, () => undefined);
  await waitUntilReady(child, `${plan.readyUrl} LIVE`, plan.ready, Date.now() + 30_000);
  // The watchdog runs Envoy as its child; Envoy's own pid is the one whose CPU counts.
  const envoyPid = await childPid(child.pid);
  return {
    port,
    pid: envoyPid,
    stop: async () => {
      await child.stop(5000);
    },
  };
}

/** The one child of `pid` (the watchdog's Envoy), or `pid` itself. */
async function childPid(pid: number): Promise<number> {
  try {
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
    return children.length === 1 ? Number(children[0]) : pid;
  } catch {
    return pid;
  }
}

/** The subscribers, spread over worker threads (bench/stream-subscribers.ts). */
interface Subscribers {
  readonly count: number;
  readonly retries: number;
  /** Delivery latencies against the writes' times, merged from every worker; clears the arrivals. */
  collect(writes: readonly (readonly [string, number, number])[]): Promise<{ fromOk: Float64Array; fromSend: Float64Array; beforeOk: number; unmatched: number; closes: number }>;
  close(): Promise<void>;
}

/**
 * The worker's entry: TypeScript through tsx's loader, registered in the worker (a worker does not
 * inherit the main thread's loader).
 */
const SUBSCRIBERS_WORKER = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(new URL('./stream-subscribers.ts', import.meta.url).href)});`,
  )}`,
);

async function openSubscribers(count: number, items: number, workers: number, port: number, tls: Pem, tokens: readonly string[]): Promise<Subscribers> {
  const threads: Worker[] = [];
  const n = Math.min(workers, count);
  const share = (w: number): number[] => Array.from({ length: count }, (_, i) => i).filter((i) => i % n === w);
  let open = 0;
  const opened = await Promise.all(
    Array.from({ length: n }, (_, w) => {
      const mine = share(w);
      const input: SubscribersInput = { port, tls, tenant: TENANT, tokens: mine.map((i) => tokens[i] ?? ''), items: mine.map((i) => `bench-${i % items}`) };
      const worker = new Worker(SUBSCRIBERS_WORKER, { workerData: input });
      threads.push(worker);
      let last = 0;
      return new Promise<{ count: number; retries: number }>((resolvePromise, reject) => {
        worker.on('message', (m: FromWorker) => {
          if (m.kind === 'progress') {
            open += m.open - last;
            last = m.open;
            if (open % 100 === 0) progress(`${open}/${count} subscribers open`);
          } else if (m.kind === 'opened') resolvePromise(m);
          else if (m.kind === 'failed') reject(new Error(`a subscriber worker failed: ${m.error}`));
        });
        worker.once('error', reject);
      });
    }),
  );
  const ask = <T extends FromWorker['kind']>(worker: Worker, message: ToWorker, kind: T): Promise<Extract<FromWorker, { kind: T }>> =>
    new Promise((resolvePromise) => {
      const on = (m: FromWorker): void => {
        if (m.kind !== kind) return;
        worker.off('message', on);
        resolvePromise(m as Extract<FromWorker, { kind: T }>);
      };
      worker.on('message', on);
      worker.postMessage(message);
    });
  return {
    count: opened.reduce((sum, o) => sum + o.count, 0),
    retries: opened.reduce((sum, o) => sum + o.retries, 0),
    async collect(writes) {
      const parts = await Promise.all(threads.map((t) => ask(t, { cmd: 'collect', writes }, 'collected')));
      const merge = (pick: (p: (typeof parts)[number]) => Float64Array): Float64Array => {
        const out = new Float64Array(parts.reduce((sum, p) => sum + pick(p).length, 0));
        let at = 0;
        for (const p of parts) {
          out.set(pick(p), at);
          at += pick(p).length;
        }
        return out.sort();
      };
      return {
        fromOk: merge((p) => p.fromOk),
        fromSend: merge((p) => p.fromSend),
        beforeOk: parts.reduce((sum, p) => sum + p.beforeOk, 0),
        unmatched: parts.reduce((sum, p) => sum + p.unmatched, 0),
        closes: parts.reduce((sum, p) => sum + p.closes, 0),
      };
    },
    async close() {
      await Promise.all(threads.map((t) => ask(t, { cmd: 'close' }, 'closed')));
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}

/** One measured run: `subs` watch `items` items while writes go at `rate` per second for `seconds`. */
async function measure(subs: Subscribers, items: number, rate: number, seconds: number, port: number, tls: Pem, writerToken: (i: number) => string, pids: { rating?: number; edge?: number; authz?: number }): Promise<RunResult> {
  // Per item and seq: when its write was sent and when its 201 came (absolute ms, as the workers' clocks).
  const writesDone: [string, number, number][] = [];
  const now = (): number => performance.timeOrigin + performance.now();
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ...tls, servername: 'localhost' });
  const writeLatencies: number[] = [];
  let writes = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const failed = (kind: string): void => {
    errors++;
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };
  const inflight = new Set<Promise<void>>();
  const write = (i: number): void => {
    const item = `bench-${i % items}`;
    const started = now();
    const p = new Promise<void>((done) => {
      const req = request(
        { host: '127.0.0.1', port, servername: 'localhost', method: 'POST', path: `/v1/tenants/${TENANT}/items/${item}/ratings`, agent, headers: { authorization: `Bearer ${writerToken(i)}`, 'content-type': 'application/json' } },
        (res) => {
          const at = now();
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            writeLatencies.push(at - started);
            if (res.statusCode !== 201 && res.statusCode !== 200) {
              failed(`${res.statusCode ?? 0} ${body.replace(/"request_id":"[^"]*"/, '"request_id":"…"').slice(0, 120)}`);
            } else {
              writesDone.push([`${item}:${(JSON.parse(body) as { seq: number }).seq}`, at, started]);
            }
            done();
          });
        },
      );
      req.on('error', (err) => {
        failed(err.message);
        done();
      });
      req.end(JSON.stringify({ score: (i % 5) + 1 }));
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const usage = { rating: watchProcess(pids.rating), edge: watchProcess(pids.edge), authz: watchProcess(pids.authz), bench: watchProcess(process.pid) };
  const total = rate * seconds;
  const start = performance.now();
  // Open loop: write i goes at start + i / rate, whatever the answers do.
  await new Promise<void>((done) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (writes < due) write(writes++);
      if (writes >= total) done();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  // Let the last updates arrive.
  await new Promise((r) => setTimeout(r, 2000));
  const [rating, edge, authz, bench] = [await usage.rating.stop(), await usage.edge.stop(), await usage.authz.stop(), await usage.bench.stop()];
  agent.destroy();
  const perItem = subs.count / items;
  const collected = await subs.collect(writesDone);
  const sorted = collected.fromOk;
  const sortedFromSend = collected.fromSend;
  const w = Float64Array.from(writeLatencies).sort();
  return {
    subscribers: subs.count,
    items,
    target_writes_per_s: rate,
    writes,
    write_errors: errors,
    write_error_kinds: Object.fromEntries(errorKinds),
    writes_per_s: round2(writes / elapsed),
    write_p50_ms: quantile(w, 0.5),
    write_p99_ms: quantile(w, 0.99),
    deliveries_expected: Math.round((writes - errors) * perItem),
    deliveries: sorted.length,
    delivery_ms: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: round2(sorted[sorted.length - 1] ?? 0), min: round2(sorted[0] ?? 0) },
    delivery_from_send_ms: { p50: quantile(sortedFromSend, 0.5), p99: quantile(sortedFromSend, 0.99), max: round2(sortedFromSend[sortedFromSend.length - 1] ?? 0) },
    before_201: collected.beforeOk,
    unmatched_updates: collected.unmatched,
    closes: collected.closes,
    rating_api: rating,
    edge_cpu_percent: edge.cpu_percent,
    authz_cpu_percent: authz.cpu_percent,
    bench_cpu_percent: bench.cpu_percent,
  };
}

function items(results: readonly RunResult[]): string {
  return results.map((r) => `${r.subscribers} subscriber${r.subscribers === 1 ? '' : 's'} on ${r.items} item${r.items === 1 ? '' : 's'}`).join(', ');
}

/** Handshakes refused and retried while opening subscribers. */
const retries = { count: 0 };

const program = new Command('bench:stream')
  .description(
    'Rating streams under load through one edge (Envoy by default): N subscribers, writes at a fixed rate over REST through the same edge, the delivery latency from each write\'s 201 to each subscriber\'s update, and the rating API\'s RSS and CPU; then the same with 1 subscriber. Prints a table, writes JSON.',
  )
  .option('--subscribers <n>', 'concurrent subscribers over the edge', positiveInt('--subscribers'), 1000)
  .option('--rate <n>', 'rating writes per second (open loop)', positiveInt('--rate'), 200)
  .option('--seconds <n>', 'measured seconds per run', positiveInt('--seconds'), 20)
  .option('--workers <n>', 'worker threads the subscribers are spread over (the writer has the main thread to itself)', positiveInt('--workers'), 2)
  .option('--items <n>', 'items the subscribers and writes are spread over (1: everyone watches the item every write changes)', positiveInt('--items'), 1)
  .option('--edge <kind>', 'envoy (the real Envoy at ENVOY_BIN on a loopback copy of envoy/envoy.yaml) or dev', (v: string) => {
    if (v !== 'envoy' && v !== 'dev') throw new InvalidArgumentError('--edge must be envoy or dev');
    return v;
  }, 'envoy')
  .option('--out <file>', 'where the JSON results go', 'bench/results/stream.json')
  .action(async (opts: BenchOptions) => {
    const work = await mkdtemp(join(tmpdir(), 'zt-bench-stream-'));
    // Run as root, each service runs as its own user (as the stack does) and must reach its files in
    // here; the PKI keeps its own modes (each key readable by its owner only).
    await chmod(work, 0o711);
    const pkiDir = join(work, 'pki');
    const pkiConfig = join(REPO_ROOT, 'pki/workloads.yaml');
    const layout = new PkiLayout(pkiDir);
    const spec = loadTopology(pkiConfig);
    await initPki(layout, spec);
    progress(`PKI in ${pkiDir}; starting authz and the rating API${opts.edge === 'dev' ? ' and the dev edges' : ''}`);
    const stack = await startStack({
      pkiDir,
      pkiConfig,
      ports: { base: 'free' },
      rotateIntervalMs: 0,
      logLevel: 'info',
      edges: opts.edge === 'dev' ? 'dev' : 'none',
      // A subscriber per subject; the rating API's own stream limits are what the bench is not about.
      env: { POLICY_DATA: await raisedPolicyData(work), RATING_STREAM_MAX_PER_SUBJECT: '10' },
      output: () => undefined,
    });
    let edge: Edge | undefined;
    let subs: Subscribers | undefined;
    try {
      edge = await startEdge(opts.edge, stack, work, pkiDir);
      const m = await readWorkloadMaterial(layout, 'client-alice');
      const tls: Pem = { cert: m.certPem, key: m.keyPem, ca: m.caPem };
      // The tenant requires tokens bound to the presenting certificate: alice's, which every subscriber and the writer present.
      const boundTo = x5tS256(m.leaf);
      const mint = (sub: string, roles: string[]): Promise<string> =>
        mintToken(layout, { sub, tenant: TENANT, roles, region: 'us-east', tier: 'enterprise' }, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs: spec.jwt.maxTokenTtlMs, maxTtlMs: spec.jwt.maxTokenTtlMs, boundTo });
      const writerTokens = await Promise.all(Array.from({ length: 50 }, (_, i) => mint(`writer-${i}`, ['rater'])));
      const writerToken = (i: number): string => writerTokens[i % writerTokens.length] ?? '';
      progress(`minting ${opts.subscribers} subscriber tokens`);
      const tokens = await Promise.all(Array.from({ length: opts.subscribers }, (_, i) => mint(`viewer-${i}`, ['viewer'])));
      const pids = { rating: stack.pids.rating, edge: edge.pid, authz: stack.pids.authz };

      const results: RunResult[] = [];
      for (const n of [opts.subscribers, 1]) {
        const items = Math.min(opts.items, n);
        progress(`opening ${n} subscriber${n === 1 ? '' : 's'} over the ${opts.edge} edge (${items} item${items === 1 ? '' : 's'})`);
        subs = await openSubscribers(n, items, opts.workers, edge.port, tls, tokens);
        retries.count += subs.retries;
        progress(`writing ${opts.rate}/s for ${opts.seconds} s`);
        results.push(await measure(subs, items, opts.rate, opts.seconds, edge.port, tls, writerToken, pids));
        await subs.close();
        subs = undefined;
      }

      const col = (v: string | number, w: number): string => String(v).padStart(w);
      process.stdout.write(`\nrating stream through the ${opts.edge === 'envoy' ? 'real Envoy' : 'dev edge'}, ${cpus().length} cores; delivery = from the write's 201 to the subscriber's update\n`);
      process.stdout.write(
        `${'subscribers'.padEnd(12)}${col('writes/s', 9)}${col('errors', 7)}${col('deliveries', 18)}${col('p50 ms', 9)}${col('p99 ms', 9)}${col('max ms', 9)}${col('before 201', 11)}${col('send p99', 10)}${col('write p99', 10)}${col('API CPU%', 9)}${col('API RSS MiB', 16)}${col('edge CPU%', 10)}${col('authz CPU%', 11)}${col('bench CPU%', 11)}\n`,
      );
      for (const r of results) {
        process.stdout.write(
          `${String(r.subscribers).padEnd(12)}${col(r.writes_per_s, 9)}${col(r.write_errors, 7)}${col(`${r.deliveries}/${r.deliveries_expected}`, 18)}${col(r.delivery_ms.p50, 9)}${col(r.delivery_ms.p99, 9)}${col(r.delivery_ms.max, 9)}${col(r.before_201, 11)}${col(r.delivery_from_send_ms.p99, 10)}${col(r.write_p99_ms, 10)}${col(r.rating_api.cpu_percent, 9)}${col(`${r.rating_api.rss_start_mib}->${r.rating_api.rss_max_mib}`, 16)}${col(r.edge_cpu_percent, 10)}${col(r.authz_cpu_percent, 11)}${col(r.bench_cpu_percent, 11)}\n`,
        );
      }
      for (const r of results) if (r.write_errors > 0) process.stdout.write(`write errors with ${r.subscribers} subscribers: ${JSON.stringify(r.write_error_kinds)}\n`);
      process.stdout.write(`(p50/p99/max: from the write's 201 to each subscriber's update, negative when the update came first; send p99: from the write being sent; ${items(results)})\n`);
      const out = {
        when: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        edge: opts.edge,
        seconds: opts.seconds,
        notes: [
          'delivery_ms: from the write\'s 201 (as the writer saw it) to the update at each subscriber; negative when the update arrived before the 201 (the rating API publishes in the write\'s atomic step, then answers)',
          'CPU%: share of one core over the measured window; RSS sampled once a second',
          `subscribers in ${opts.workers} worker threads, the writer alone on the main thread, all on the same machine as the stack`,
          'policy limits and the Envoy local_ratelimit backstop raised out of the way; memory stores',
          `handshakes refused and retried while opening subscribers: ${retries.count}`,
        ],
        handshake_retries: retries.count,
        results,
      };
      await mkdir(resolve(opts.out, '..'), { recursive: true });
      await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
      process.stdout.write(`\nwrote ${opts.out}\n`);
    } finally {
      await subs?.close();
      await edge?.stop();
      await stack.stop();
      await rm(work, { recursive: true, force: true });
    }
  });

process.exitCode = await runCli(program, process.argv);
