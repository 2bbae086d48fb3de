import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/rating/config.js';
import { createDeps } from '../../../src/rating/create-deps.js';
import { ConfigError } from '../../../src/shared/errors.js';

describe('rating createDeps', () => {
  // With REDIS_URL set: the certificate is read first, so no Redis client is left reconnecting.
  it('fails naming the certificate it looked for when the PKI is missing, before connecting to Redis', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zt-rating-nopki-'));
    try {
      await assert.rejects(createDeps(loadConfig({ ZT_PKI_DIR: dir, LOG_LEVEL: 'silent', REDIS_URL: 'rediss://127.0.0.1:1' })), (err: unknown) => {
        return err instanceof ConfigError && err.code === 'pki_missing' && err.message.includes(join(dir, 'rating-api', 'current'));
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
