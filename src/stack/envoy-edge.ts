/**
 * One real Envoy edge of the embedded stack (`npm start -- --edge envoy`): the local copy of the
 * shipped config written into a directory the caller owns (and removes when it stops), and the
 * command that runs it. Envoy runs under the watchdog, since it cannot preload the orphan guard,
 * so it stops with the runner even when the runner is killed.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnvoyInstall } from './envoy-bin.js';
import { localEnvoyConfig, type EnvoyFiles, type HostPort } from './envoy-local-config.js';
import { REPO_ROOT, watchdogLaunch, type Launch, type Runtime } from './launcher.js';
import { httpReady } from './ready.js';

/** How often Envoy writes out its buffered access log lines. */
const ACCESS_LOG_FLUSH_MS = 250;

/** Where the shipped config lives: envoy.yaml and sds/*.yaml. */
export const SHIPPED_ENVOY_DIR = join(REPO_ROOT, 'envoy');

export interface EnvoyEdgeOptions {
  /** `us-east` or `eu-central`: which `$ZT_PKI_DIR/edge-<region>` it presents. */
  readonly region: string;
  readonly listen: HostPort;
  /** The admin listener stays on 127.0.0.1, as shipped. */
  readonly adminPort: number;
  readonly authz: HostPort;
  readonly rating: HostPort;
  /** Absolute `$ZT_PKI_DIR`. */
  readonly pkiDir: string;
  /** A directory the caller owns and removes; the copy goes into `<dir>/<region>/`. */
  readonly dir: string;
  readonly envoy: EnvoyInstall;
  /** How the watchdog runs (it is a TypeScript file under tsx). */
  readonly runtime: Runtime;
  /** The stack's LOG_LEVEL, in pino's names. */
  readonly logLevel?: string | undefined;
  /** Default {@link SHIPPED_ENVOY_DIR}. */
  readonly shippedDir?: string;
}

/** A prepared edge: what to run, and how to know it is ready. */
export interface EnvoyEdgePlan {
  readonly launch: Launch;
  /** The generated envoy.yaml. */
  readonly configFile: string;
  /** `GET <this>` answers 200 `LIVE` once the listener, the clusters and the SDS secrets are up. */
  readonly readyUrl: string;
  readonly ready: () => Promise<boolean>;
}

/** Reads envoy/envoy.yaml and every envoy/sds/*.yaml. */
export async function readShippedEnvoy(dir = SHIPPED_ENVOY_DIR): Promise<EnvoyFiles> {
  const sdsDir = join(dir, 'sds');
  const names = (await readdir(sdsDir)).filter((n) => n.endsWith('.yaml')).sort();
  const sds: Record<string, string> = {};
  for (const name of names) sds[name] = await readFile(join(sdsDir, name), 'utf8');
  return { envoyYaml: await readFile(join(dir, 'envoy.yaml'), 'utf8'), sds };
}

/** Writes the edge's copy of the shipped config under `options.dir` and returns how to run it. */
export async function prepareEnvoyEdge(options: EnvoyEdgeOptions): Promise<EnvoyEdgePlan> {
  const home = join(options.dir, options.region);
  const sdsDir = join(home, 'sds');
  await mkdir(sdsDir, { recursive: true });
  const files = localEnvoyConfig(await readShippedEnvoy(options.shippedDir), {
    listen: options.listen,
    adminPort: options.adminPort,
    upstreams: { authz: options.authz, rating_api: options.rating },
    sdsDir,
    edgePkiDir: join(options.pkiDir, `edge-${options.region}`),
  });
  // The SDS files first: Envoy reads them as soon as it has parsed envoy.yaml.
  for (const [name, text] of Object.entries(files.sds)) await writeFile(join(sdsDir, name), text);
  const configFile = join(home, 'envoy.yaml');
  await writeFile(configFile, files.envoyYaml);
  const args = [
    '--config-path',
    configFile,
    // Two Envoys on one host would otherwise share (and fight over) one hot-restart shared memory
    // region; the stack never hot-restarts, it stops and starts.
    '--disable-hot-restart',
    '--log-level',
    envoyLogLevel(options.logLevel),
    // The access log (stdout) is flushed every 10 s by default; a person trying the stack expects
    // each request's line as it happens, beside the authz decision it belongs to.
    '--file-flush-interval-msec',
    String(ACCESS_LOG_FLUSH_MS),
  ];
  const readyUrl = `http://127.0.0.1:${options.adminPort}/ready`;
  return { launch: watchdogLaunch({ command: options.envoy.bin, args }, options.runtime), configFile, readyUrl, ready: httpReady(readyUrl, 'LIVE') };
}

/**
 * Envoy's log level for the stack's LOG_LEVEL. `info` becomes `warning`: at info Envoy prints about
 * 130 lines of extension lists at every start, which would bury the services' lines, while its
 * access log (stdout) is written whatever the level. `debug` and `trace` pass through for digging.
 */
export function envoyLogLevel(level: string | undefined): string {
  switch (level) {
    case 'trace':
    case 'debug':
    case 'error':
      return level;
    case 'fatal':
      return 'critical';
    case 'silent':
      return 'off';
    default:
      return 'warning';
  }
}
