import { runService } from '../shared/service.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createDeps } from './create-deps.js';

// `node dist/edge/main.js`: one dev edge (EDGE_REGION): load, open, listen; stop cleanly on SIGTERM/SIGINT.
await runService({
  name: 'edge',
  messages: { listening: 'edge listening', stopping: 'edge stopping' },
  loadConfig,
  createDeps,
  buildApp,
  describe: (config) => ({ self: config.spiffeId, authz: config.authzUrl.href, upstream: config.ratingUrl.href }),
});
