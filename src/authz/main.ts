import { ConfigError, errorMessage } from '../shared/errors.js';
import { listen } from '../shared/listen.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createDeps } from './create-deps.js';

// `node dist/authz/main.js`: load and check everything, listen, and close cleanly on a signal.
try {
  const config = loadConfig();
  const deps = await createDeps(config);
  const authz = buildApp(config, deps);
  const port = await listen(authz.server, config.listen);
  const adminPort = await listen(authz.adminServer, config.adminListen);
  deps.logger.info({ port, admin_port: adminPort, workload: config.workload, serial: deps.tls.material.serial, buckets: deps.buckets.name, keys: deps.keys.kind }, 'authz listening');
  const stop = (signal: NodeJS.Signals): void => {
    deps.logger.info({ signal }, 'authz stopping');
    void authz.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (err) {
  process.stderr.write(`authz: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
  process.exit(1);
}
