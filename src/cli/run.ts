import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { PkiLayout, REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { JWT_AUDIENCE, JWT_ISSUER, LOG_LEVEL, PKI_CONFIG, PKI_DIR, PKI_ROOT_DIR, REDIS_URL, TRUST_DOMAIN } from '../shared/settings/common-settings.js';
import { readSettings, type SettingValues } from '../shared/settings/setting.js';
import { loadTopology, workloadNamed, type Topology } from '../shared/topology.js';

/** The settings rows the PKI commands (pki, rotate-certs, token) read. */
export const PKI_SETTINGS = {
  pkiDir: PKI_DIR,
  pkiRootDir: PKI_ROOT_DIR,
  pkiConfig: PKI_CONFIG,
  redisUrl: REDIS_URL,
  trustDomain: TRUST_DOMAIN,
  logLevel: LOG_LEVEL,
  issuer: JWT_ISSUER,
  audience: JWT_AUDIENCE,
} as const;

/** Exit codes of every command: 0 fine, 1 failure, 2 bad usage or unknown name. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Options every PKI command shares: where the PKI lives and which declaration to issue from. */
export interface PkiOptions {
  dir?: string;
  config?: string;
}

/** Adds `--dir` and `--config`, which override ZT_PKI_DIR and ZT_PKI_CONFIG. */
export function withPkiOptions(cmd: Command): Command {
  return cmd
    .option('--dir <path>', `PKI directory (default: ZT_PKI_DIR, else ${PKI_DIR.default ?? ''}); the root key is in ZT_PKI_ROOT_DIR (default <dir>/root)`)
    .option('--config <file>', `topology and PKI declaration (default: ZT_PKI_CONFIG, else ${PKI_CONFIG.default ?? ''})`);
}

/** What a PKI command works on: the settings (checked like every service's), the layout and the declaration. */
export interface PkiContext {
  readonly settings: SettingValues<typeof PKI_SETTINGS>;
  readonly layout: PkiLayout;
  readonly spec: Topology;
  /** The Redis to keep in step (REDIS_URL, and Redis's SPIFFE ID from the topology), if any. */
  readonly redis: RedisServer | undefined;
}

/**
 * Reads the PKI commands' settings through the one settings parser (so ZT_TRUST_DOMAIN is checked
 * exactly as every service checks it), then the layout and declaration the options name.
 */
export function pkiContext(opts: PkiOptions, env: NodeJS.ProcessEnv = process.env): PkiContext {
  const settings = readSettings(PKI_SETTINGS, { ...env, ...(opts.dir === undefined ? {} : { ZT_PKI_DIR: opts.dir }), ...(opts.config === undefined ? {} : { ZT_PKI_CONFIG: opts.config }) });
  const spec = loadTopology(settings.pkiConfig, settings.trustDomain);
  const redis = settings.redisUrl === undefined ? undefined : { url: settings.redisUrl, spiffeId: workloadNamed(spec, REDIS_SERVER_WORKLOAD).spiffeId };
  return { settings, layout: new PkiLayout(settings.pkiDir, settings.pkiRootDir), spec, redis };
}


/**
 * Runs a commander program and turns what it throws into an exit code and one clear line on
 * stderr: the message of a ConfigError (it names the bad input), or the error itself otherwise.
 */
export async function runCli(program: Command, argv: readonly string[]): Promise<number> {
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${program.name()}: error: ${err.message}\n`);
      return err.code === 'pki_unknown_workload' ? EXIT_USAGE : EXIT_FAILURE;
    }
    process.stderr.write(`${program.name()}: error: ${errorMessage(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}

/** Parses a duration option such as `15m`, naming the option on failure. */
export function durationOption(name: string, text: string, parse: (t: string) => number | undefined): number {
  const v = parse(text);
  if (v === undefined) throw new ConfigError('cli_bad_duration', `${name}: "${text}" is not a duration (use e.g. 15m, 1h, 24h)`);
  return v;
}
