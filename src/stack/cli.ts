import { Command, Option } from 'commander';
import { ConfigError } from '../shared/errors.js';
import { loadStackConfig } from './config.js';
import { startStack, type StackOptions } from './stack.js';
import type { Runtime } from './launcher.js';

interface StartCliOptions {
  redis?: boolean;
  freePorts?: boolean;
  runtime: Runtime | 'auto';
}

/**
 * `npm start`: the embedded stack in the foreground. Exits 0 after Ctrl-C (SIGINT) or SIGTERM has
 * stopped every child, 1 when a child died and took the stack down or the start failed.
 */
export function startProgram(): Command {
  return new Command('start')
    .description('Start the embedded stack: authz, the rating API and both dev edges on loopback, with the PKI initialised and certificates rotating.')
    .option('--redis', 'start a local redis-server on a free port for buckets and ratings (REDIS_URL uses an existing Redis instead)')
    .option('--free-ports', 'listen on free ports instead of 8443/8444, 9443, 7443 and their admin ports')
    .addOption(new Option('--runtime <runtime>', 'how services run: dist (compiled), tsx (from source), auto (dist when it is newer than src/)').choices(['auto', 'dist', 'tsx']).default('auto'))
    .action(async (opts: StartCliOptions) => {
      const fromEnv = loadStackConfig();
      if (opts.redis === true && fromEnv.redis !== undefined) {
        throw new ConfigError('bad_setting', '--redis starts a local Redis, REDIS_URL names an existing one: use one of them');
      }
      const options: StackOptions = {
        ...fromEnv,
        runtime: opts.runtime,
        ...(opts.redis === true ? { redis: 'local' as const } : {}),
        ...(opts.freePorts === true
          ? { ports: { edgeUsEast: 0, edgeUsEastAdmin: 0, edgeEuCentral: 0, edgeEuCentralAdmin: 0, authz: 0, authzAdmin: 0, rating: 0, ratingAdmin: 0 } }
          : {}),
      };
      const stack = await startStack(options);
      process.stdout.write(stack.banner());
      let signalled = false;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (signalled) return;
        signalled = true;
        process.stdout.write(`\nstack: ${signal}: stopping every service\n`);
        void stack.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const exit = await stack.exited;
      if (exit.reason === 'child_exited') {
        const c = exit.child;
        process.stderr.write(`stack: ${c.name} exited (${c.signal ?? `code ${c.code}`}), so the stack stopped; see its lines above\n`);
        process.exitCode = 1;
      } else {
        process.stdout.write('stack: stopped\n');
      }
    });
}
