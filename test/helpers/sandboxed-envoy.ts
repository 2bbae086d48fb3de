import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { TestHost } from './test-network.js';
import { REPO_ROOT } from './run-script.js';

const run = promisify(execFile);

/** The port envoy.yaml's listener binds (compose publishes it as 8443/8444 on the host). */
export const ENVOY_LISTENER_PORT = 8443;

/** The Envoy the tests run: ENVOY_BIN, else the one `npm run setup:envoy` installed. */
export function envoyBin(): string {
  return resolve(REPO_ROOT, process.env.ENVOY_BIN ?? '.venv/bin/envoy');
}

/** Why Envoy cannot run here, or undefined when it can. */
export function envoyUnavailable(): string | undefined {
  return existsSync(envoyBin()) ? undefined : `no Envoy at ${envoyBin()} (run: npm run setup:envoy)`;
}

/** One real Envoy running the shipped config in its own namespaces (scripts/envoy-sandbox.sh). */
export interface SandboxedEnvoy {
  readonly host: TestHost;
  readonly pid: number;
  /** Everything Envoy printed: its JSON access log on stdout, its own log on stderr. */
  readonly lines: string[];
  /** GET on Envoy's admin listener (127.0.0.1:9901 inside its namespace). */
  admin(path: string): Promise<string>;
  /** Counters and gauges from `/stats`, by name. */
  stats(): Promise<Map<string, number>>;
  /** SIGTERM, then SIGKILL after 5 s; removes the sandbox's scratch directory. */
  stop(): Promise<void>;
}

export interface SandboxedEnvoyOptions {
  /** The network namespace it runs in; it listens on `host.ip`:8443. */
  readonly host: TestHost;
  /** The edge's PKI directory (`$ZT_PKI_DIR/edge-<region>`), mounted at /etc/envoy/pki/edge. */
  readonly edgePki: string;
  /** /etc/hosts lines inside the sandbox: `authz` and `rating-api` to where the test runs them. */
  readonly hosts: Readonly<Record<string, string>>;
  /** A config to mount instead of envoy/envoy.yaml (for tests about broken or edited configs). */
  readonly config?: string;
  readonly logLevel?: string;
}

/**
 * Starts Envoy with envoy/envoy.yaml and envoy/sds/ byte for byte at their compose paths, and
 * resolves once its admin says LIVE. Rejects with Envoy's output when it exits first.
 */
export async function startSandboxedEnvoy(options: SandboxedEnvoyOptions): Promise<SandboxedEnvoy> {
  const scratch = await mkdtemp(join(tmpdir(), 'zt-envoy-sandbox-'));
  const args = [join(REPO_ROOT, 'scripts', 'envoy-sandbox.sh'), '--edge-pki', options.edgePki, '--scratch', scratch, '--netns', options.host.netns];
  if (options.config !== undefined) args.push('--config', options.config);
  for (const [name, ip] of Object.entries(options.hosts)) args.push('--host', `${name}=${ip}`);
  // The flags compose passes (compose/docker-compose.yml), but a quieter log level.
  args.push('--', '--log-level', options.logLevel ?? 'warn', '--file-flush-interval-msec', '1000');
  const child: ChildProcess = spawn('bash', args, { env: { ...process.env, ENVOY_BIN: envoyBin() }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => lines.push(l));
  }
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const admin = async (path: string): Promise<string> => {
    const { stdout } = await run('ip', ['netns', 'exec', options.host.netns, 'curl', '-sS', '--max-time', '5', `http://127.0.0.1:9901${path}`]);
    return stdout;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(scratch, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`Envoy in ${options.host.netns} exited before it was ready:\n${lines.slice(-30).join('\n')}`);
    }
    const ready = await admin('/ready').catch(() => '');
    if (ready.trim() === 'LIVE') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Envoy in ${options.host.netns} was not LIVE within 30 s:\n${lines.slice(-30).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    host: options.host,
    pid: child.pid ?? 0,
    lines,
    admin,
    async stats() {
      const out = new Map<string, number>();
      for (const line of (await admin('/stats')).split('\n')) {
        const m = /^([^:]+): (\d+)$/.exec(line);
        if (m) out.set(m[1] ?? '', Number(m[2]));
      }
      return out;
    },
    stop,
  };
}
