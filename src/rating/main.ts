import { ConfigError, errorMessage } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { loadRatingConfig } from './config.js';
import { createRatingStore } from './create-rating-store.js';
import { startRatingService } from './server.js';

// `node dist/rating/main.js`: load the config, start, and stop cleanly on SIGTERM/SIGINT.
try {
  const config = await loadRatingConfig();
  const logger = createLogger('rating', { level: config.logLevel });
  const store = createRatingStore(config.redisUrl, logger);
  const service = await startRatingService(config, { store, logger });
  logger.info({ port: service.port, admin_port: service.adminPort, store: store.name, serial: config.tls.material.serial }, 'rating_listening');
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'rating_stopping');
    void service
      .close()
      .then(() => store.close())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (err) {
  process.stderr.write(`rating: ${err instanceof ConfigError ? err.message : `cannot start: ${errorMessage(err)}`}\n`);
  process.exit(1);
}
