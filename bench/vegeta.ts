/**
 * vegeta (github.com/tsenart/vegeta, a Go load generator) for the benches that drive the whole path:
 * it presents a client certificate, holds keep-alive connections, and keeps a fixed rate whatever the
 * latency (open loop), which a Node generator on the same two cores could not do without measuring
 * itself. Found at VEGETA_BIN; never downloaded at bench time.
 */
import { spawn } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { z } from 'zod';

/** The pinned version `npm run setup:vegeta` installs. */
export const VEGETA_VERSION = 'v12.13.0';
export const VEGETA_INSTALL = `npm run setup:vegeta (GOBIN=$PWD/.tools/bin go install github.com/tsenart/vegeta/v12@${VEGETA_VERSION}), or set VEGETA_BIN`;

/** Resolves VEGETA_BIN, or says how to install vegeta. */
export async function findVegeta(bin: string): Promise<string> {
  const ok = await access(bin, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!ok) throw new Error(`vegeta not found at VEGETA_BIN=${bin}. Install it with: ${VEGETA_INSTALL}`);
  return bin;
}

/** One attack: open loop at `rate` per second, or as fast as `maxWorkers` workers go when rate is 0. */
export interface Attack {
  readonly bin: string;
  /** vegeta JSON targets, one per line. */
  readonly targetsFile: string;
  readonly rate: number;
  readonly maxWorkers?: number;
  readonly seconds: number;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
  /** `host:port:ip:port`: the targets name `localhost` (the only name on the certificates), this pins it to IPv4. */
  readonly connectTo: string;
  /** Where the binary results go. */
  readonly out: string;
}

/** What one attack measured, from `vegeta report -type=json`. */
export interface AttackResult {
  readonly requests: number;
  /** Requests sent per second. */
  readonly rate: number;
  /** Successful (2xx/3xx) answers per second. */
  readonly throughput: number;
  /** Answers of any status per second (what a max-rate run can carry). */
  readonly answered_per_s: number;
  readonly mean_ms: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  /** Status code to count; `0` is a transport error or a timeout. */
  readonly status_codes: Record<string, number>;
  /** vegeta's distinct error strings, the first few. */
  readonly errors: string[];
  /** CPU the load generator itself spent, µs (not server CPU). */
  readonly loadgen_cpu_us: number;
}

const Report = z.object({
  latencies: z.object({ mean: z.number(), '50th': z.number(), '90th': z.number(), '99th': z.number(), max: z.number() }),
  duration: z.number(),
  wait: z.number(),
  requests: z.number(),
  rate: z.number(),
  throughput: z.number(),
  status_codes: z.record(z.string(), z.number()).nullable().optional(),
  errors: z.array(z.string()).nullable().optional(),
});

const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;

/** Parses `vegeta report -type=json` (latencies in ns). */
export function parseVegetaReport(text: string, loadgenCpuUs = 0): AttackResult {
  const r = Report.parse(JSON.parse(text));
  const seconds = (r.duration + r.wait) / 1e9;
  return {
    requests: r.requests,
    rate: Math.round(r.rate * 10) / 10,
    throughput: Math.round(r.throughput * 10) / 10,
    answered_per_s: seconds > 0 ? Math.round((r.requests / seconds) * 10) / 10 : 0,
    mean_ms: ms(r.latencies.mean),
    p50_ms: ms(r.latencies['50th']),
    p90_ms: ms(r.latencies['90th']),
    p99_ms: ms(r.latencies['99th']),
    max_ms: ms(r.latencies.max),
    status_codes: r.status_codes ?? {},
    errors: (r.errors ?? []).slice(0, 5),
    loadgen_cpu_us: loadgenCpuUs,
  };
}

/** Parses bash's `times` output (two lines, `XmY.YYYs XmY.YYYs`): the children's user + system, in µs. */
export function parseBashTimes(text: string): number {
  const lines = text.trim().split('\n');
  const children = lines[1] ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  return Math.round(seconds * 1e6);
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.slice(0, 2).join(' ')} exited ${code}: ${err.slice(0, 500)}`))));
  });
}

/**
 * Runs one attack and reports it. vegeta runs under bash so that bash's `times` can give the CPU
 * it used (a child's rusage is not available from Node).
 */
export async function attack(a: Attack): Promise<AttackResult> {
  const args = [
    'attack',
    '-format=json',
    `-targets=${a.targetsFile}`,
    `-rate=${a.rate}/s`,
    ...(a.maxWorkers === undefined ? [] : [`-max-workers=${a.maxWorkers}`, `-workers=${a.maxWorkers}`]),
    `-duration=${a.seconds}s`,
    '-timeout=10s',
    // HTTP/1.1 keep-alive, as the other benches drive the edge; Envoy offers h2 too.
    '-http2=false',
    `-cert=${a.tls.cert}`,
    `-key=${a.tls.key}`,
    `-root-certs=${a.tls.ca}`,
    `-connect-to=${a.connectTo}`,
    '-max-body=0',
    `-output=${a.out}`,
  ];
  const timesFile = `${a.out}.times`;
  await run('bash', ['-c', '"$@"; rc=$?; times > "$ZT_TIMES_FILE"; exit $rc', 'bash', a.bin, ...args], { ZT_TIMES_FILE: timesFile });
  const loadgenCpuUs = parseBashTimes(await readFile(timesFile, 'utf8'));
  return parseVegetaReport(await run(a.bin, ['report', '-type=json', a.out]), loadgenCpuUs);
}

/** vegeta's report over several attacks' results together (latencies and statuses of them all). */
export async function mergedReport(bin: string, files: readonly string[]): Promise<AttackResult> {
  return parseVegetaReport(await run(bin, ['report', '-type=json', ...files]));
}
