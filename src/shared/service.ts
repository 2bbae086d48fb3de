/**
 * The shape every service here has, and the one `main` that runs it:
 *   loadConfig(env)      -> plain, frozen data; throws a ConfigError naming a bad setting;
 *   createDeps(config)   -> the live resources (certificates, stores, keys, a logger); close() frees them;
 *   buildApp(config, deps) -> servers that are not listening yet, and close();
 * then `runService` listens, logs where, and on SIGTERM/SIGINT closes the app, then the deps, and
 * exits 0. A service supplies only its settings rows, its deps and its routes.
 */
import type { Server } from 'node:net';
import { ConfigError, errorMessage } from './errors.js';
import { closeServer, listen } from './listen.js';
import type { Logger } from './logger.js';
import type { ListenAddress } from './settings/schemas.js';

/** One server of an app and where it listens (a name for the log: `port`, `admin_port`). */
export interface Listener {
  readonly name: string;
  readonly server: Server;
  readonly at: ListenAddress;
}

/** What `buildApp` returns: the servers, not listening yet, and how to stop the app. */
export interface BuiltApp {
  readonly listeners: readonly Listener[];
  /** Stops following rotations and the like; the servers are closed by whoever listened. Idempotent. */
  close(): Promise<void>;
}

/** Live resources; `close()` releases them after the app has stopped. */
export interface ServiceDeps {
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface ServiceDefinition<C, D extends ServiceDeps> {
  /** For error lines before a logger exists: `authz: ZT_TRUST_DOMAIN: ...`. */
  readonly name: string;
  loadConfig(env: NodeJS.ProcessEnv): C;
  createDeps(config: C): Promise<D>;
  buildApp(config: C, deps: D): BuiltApp;
  /** Extra fields for the "listening" line (workload, serial, store...). */
  describe?(config: C, deps: D): Record<string, unknown>;
  /**
   * The `msg` of the two lifecycle log lines: listening (the ports and `describe`) and stopping (the
   * signal). Default `<name> listening` and `<name> stopping`.
   */
  readonly messages?: { readonly listening: string; readonly stopping: string };
}

/** A service that is listening: where, and how to stop it (as a signal would). */
export interface RunningService {
  readonly ports: Readonly<Record<string, number>>;
  /** Stops; given the signal that asked for it, first logs the stopping line with it. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Loads, builds and listens; rejects (after closing what it opened) when any step fails. */
export async function startService<C, D extends ServiceDeps>(def: ServiceDefinition<C, D>, env: NodeJS.ProcessEnv = process.env): Promise<RunningService> {
  const config = def.loadConfig(env);
  const deps = await def.createDeps(config);
  let app: BuiltApp | undefined;
  const opened: Server[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(opened.map((s) => closeServer(s)));
    await app?.close();
    await deps.close();
  };
  try {
    app = def.buildApp(config, deps);
    const ports: Record<string, number> = {};
    for (const l of app.listeners) {
      ports[l.name] = await listen(l.server, l.at);
      opened.push(l.server);
    }
    const messages = def.messages ?? { listening: `${def.name} listening`, stopping: `${def.name} stopping` };
    deps.logger.info({ ...ports, ...def.describe?.(config, deps) }, messages.listening);
    let stopping: Promise<void> | undefined;
    return {
      ports: Object.freeze(ports),
      stop(signal) {
        if (stopping === undefined && signal !== undefined) deps.logger.info({ signal }, messages.stopping);
        return (stopping ??= stop());
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The whole of a service's `main.ts`: start it, stop it cleanly on SIGTERM or SIGINT (exit 0), and
 * on a failed start print one line naming the problem and exit 1.
 */
export async function runService<C, D extends ServiceDeps>(def: ServiceDefinition<C, D>): Promise<void> {
  // Listening on the signals before the start: the "listening" line is written during it, and a
  // supervisor that stops the service as soon as it reads that line must get a clean stop, not
  // Node's default end of the process.
  let running: RunningService | undefined;
  let pending: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (running === undefined) pending = signal;
    else void running.stop(signal).then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    running = await startService(def);
    if (pending !== undefined) onSignal(pending);
  } catch (err) {
    process.stderr.write(`${def.name}: ${err instanceof ConfigError ? err.message : `cannot start: ${errorMessage(err)}`}\n`);
    process.exit(1);
  }
}
