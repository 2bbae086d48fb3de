import { mkdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { ConfigError } from '../shared/errors.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';

/** Thrown when another writer holds the PKI lock and this one chose not to wait. */
export class PkiLockedError extends ConfigError {
  constructor(file: string) {
    super('pki_locked', `another PKI writer holds ${file}`);
  }
}

/**
 * Runs `fn` holding the PKI's single-writer lock (a lock directory, created atomically, refreshed
 * while held and considered stale after 30 s, so a killed writer does not block cron forever).
 * `wait: false` fails at once with PkiLockedError: rotation uses it to skip rather than queue.
 */
export async function withPkiLock<T>(layout: PkiLayout, fn: () => Promise<T>, opts: { wait: boolean }): Promise<T> {
  await mkdir(layout.dir, { recursive: true, mode: 0o755 });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(layout.dir, {
      lockfilePath: layout.lockFile,
      realpath: false,
      stale: 30_000,
      update: 5_000,
      retries: opts.wait ? { retries: 60, minTimeout: 100, maxTimeout: 500 } : 0,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new PkiLockedError(layout.lockFile);
    throw err;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
