import { runService } from '../shared/service.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createDeps } from './create-deps.js';

// `node dist/authz/main.js`: load and check everything, listen, and close cleanly on a signal.
await runService({
  name: 'authz',
  loadConfig,
  createDeps: (config) => createDeps(config),
  buildApp,
  describe: (config, deps) => ({ workload: config.workload, serial: deps.tls.material.serial, buckets: deps.buckets.name, keys: deps.keys.kind }),
});
