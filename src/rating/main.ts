import { runService } from '../shared/service.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createDeps } from './create-deps.js';

// `node dist/rating/main.js`: load, open, listen; stop cleanly on SIGTERM/SIGINT.
await runService({
  name: 'rating',
  messages: { listening: 'rating_listening', stopping: 'rating_stopping' },
  loadConfig,
  createDeps,
  buildApp,
  describe: (_config, deps) => ({ store: deps.store.name, serial: deps.tls.material.serial }),
});
