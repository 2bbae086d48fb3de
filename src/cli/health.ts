import { Command } from 'commander';
import { EXIT_FAILURE } from './run.js';

/** `health <url>`: exit 0 on a 2xx from a plain-HTTP admin endpoint; for container health checks. */
export function healthProgram(): Command {
  return new Command('health')
    .description('Exit 0 when the URL answers 2xx within the timeout (for container health checks).')
    .argument('<url>', 'e.g. http://127.0.0.1:9090/readyz')
    .option('--timeout <ms>', 'timeout in milliseconds', '2000')
    .action(async (url: string, opts: { timeout: string }) => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(Number(opts.timeout) || 2000) });
        if (!res.ok) {
          process.stderr.write(`health: ${url} answered ${res.status}\n`);
          process.exitCode = EXIT_FAILURE;
        }
      } catch (err) {
        process.stderr.write(`health: ${url}: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = EXIT_FAILURE;
      }
    });
}
