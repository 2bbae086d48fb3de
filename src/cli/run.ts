import type { Command} from 'commander';
import { CommanderError } from 'commander';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { readSettings } from '../shared/settings.js';
import { PkiLayout } from '../pki/layout.js';
import { loadPkiSpec, type PkiSpec } from '../pki/workloads.js';

/** Exit codes of every command: 0 fine, 1 failure, 2 bad usage or unknown name. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Options every PKI command shares: where the PKI lives and which declaration to issue from. */
export interface PkiOptions {
  dir?: string;
  config?: string;
}

/** Adds `--dir` and `--config`, whose defaults come from the settings table. */
export function withPkiOptions(cmd: Command): Command {
  const s = readSettings(['ZT_PKI_DIR', 'ZT_PKI_CONFIG']);
  return cmd
    .option('--dir <path>', 'PKI directory (ZT_PKI_DIR)', s.ZT_PKI_DIR)
    .option('--config <file>', 'PKI declaration (ZT_PKI_CONFIG)', s.ZT_PKI_CONFIG);
}

/** Resolves the layout and loads the declaration named by the options (and ZT_TRUST_DOMAIN). */
export function pkiContext(opts: PkiOptions): { layout: PkiLayout; spec: PkiSpec } {
  const s = readSettings(['ZT_PKI_DIR', 'ZT_PKI_CONFIG']);
  const trustDomain = process.env.ZT_TRUST_DOMAIN?.trim() || undefined;
  return {
    layout: new PkiLayout(opts.dir ?? s.ZT_PKI_DIR ?? 'pki/out'),
    spec: loadPkiSpec(opts.config ?? s.ZT_PKI_CONFIG ?? 'pki/workloads.yaml', trustDomain),
  };
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
