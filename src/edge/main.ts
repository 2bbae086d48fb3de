/**
 * `node dist/edge/main.js`: one dev edge (EDGE_REGION). Loads the config, builds, listens on the
 * mTLS and admin listeners, follows certificate rotations, and closes cleanly on SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { closeServer, listen } from '../shared/listen.js';
import { createLogger } from '../shared/logger.js';
import { buildApp } from './app.js';
import { loadEdgeConfig } from './config.js';

try {
  const config = await loadEdgeConfig();
  const log = createLogger('edge', { level: config.logLevel, bindings: { region: config.region } });
  const edge = buildApp(config, { logger: log });
  config.tls.on('rotated', (m, previous) => log.info({ serial: m.serial, previous_serial: previous }, 'certificate rotated'));
  config.tls.on('error', (err) => log.error({ err: err.message }, 'certificate reload failed; keeping the current one'));
  config.tls.watch();
  const admin = createServer(edge.admin);
  const port = await listen(edge.server, config.listen);
  const adminPort = await listen(admin, config.adminListen);
  log.info({ port, admin_port: adminPort, self: config.self.uri, authz: config.authzUrl.href, upstream: config.ratingUrl.href }, 'edge listening');

  const stop = async (signal: string): Promise<void> => {
    log.info({ signal }, 'edge stopping');
    await Promise.all([closeServer(edge.server), closeServer(admin)]);
    edge.close();
    config.tls.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
} catch (err) {
  process.stderr.write(`edge: ${err instanceof ConfigError ? err.message : `failed to start: ${errorMessage(err)}`}\n`);
  process.exit(1);
}
