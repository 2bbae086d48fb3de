import { Command } from 'commander';
import { errorMessage } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { PkiLockedError, withPkiLock } from '../pki/lock.js';
import { rotate, type RotateSummary } from '../pki/rotate.js';
import { parseDuration } from '../shared/settings/schemas.js';
import { durationOption, EXIT_FAILURE, pkiContext, withPkiOptions, type PkiOptions } from './run.js';

interface RotateCliOptions extends PkiOptions {
  force?: boolean;
  forceJwt?: boolean;
  dryRun?: boolean;
  every?: string;
}

/**
 * `rotate-certs`: the cron entry. Prints exactly one JSON summary line on stdout per run; progress
 * and one `cert_status` log line per workload go to stderr (they feed the Grafana expiry panel).
 */
export function rotateProgram(): Command {
  const program = new Command('rotate-certs')
    .description(
      'Renew every certificate past 2/3 of its lifetime and the JWT key on its schedule, and keep Redis in step (REDIS_URL: its ACL users, and its certificate through CONFIG SET). Never reads the root key: a due intermediate is reported for `pki renew-intermediate`. Single instance (lock); exits 0 when all is well, 1 on failure.',
    )
    .option('--force', 'renew every leaf now, due or not')
    .option('--force-jwt', 'renew the JWT signing key now (the old public key stays published)')
    .option('--dry-run', 'report what is due; change nothing')
    .option('--every <duration>', 'keep running, one rotation per interval (for a container without cron)');
  withPkiOptions(program).action(async (opts: RotateCliOptions) => {
    const log = createLogger('pki', { level: pkiContext(opts).settings.logLevel, destination: process.stderr });
    if (opts.every === undefined) {
      process.exitCode = await rotateOnce(opts, log);
      return;
    }
    const intervalMs = durationOption('--every', opts.every, parseDuration);
    await rotateForever(opts, intervalMs, log);
  });
  return program;
}

/** One run: lock, rotate, print the summary. A run that finds the lock taken skips and exits 0. */
export async function rotateOnce(opts: RotateCliOptions, log: Logger): Promise<number> {
  const { layout, spec, redis } = pkiContext(opts);
  let summary: RotateSummary;
  try {
    summary = await withPkiLock(
      layout,
      () =>
        rotate(layout, spec, {
          force: opts.force === true,
          forceJwt: opts.forceJwt === true,
          dryRun: opts.dryRun === true,
          ...(redis === undefined ? {} : { redis }),
          onLeaf: (r) =>
            log.info({ workload: r.workload, spiffe_id: r.spiffe_id, serial: r.serial, not_after: r.not_after, seconds_left: r.seconds_left, renewed: r.action === 'renewed' || r.action === 'issued', action: r.action, reason: r.reason, error: r.error }, 'cert_status'),
        }),
      { wait: false },
    );
  } catch (err) {
    if (err instanceof PkiLockedError) {
      process.stdout.write(`${JSON.stringify({ ok: true, skipped: true, reason: 'another rotation holds the lock', lock: layout.lockFile })}\n`);
      return 0;
    }
    process.stdout.write(`${JSON.stringify({ ok: false, error: errorMessage(err) })}\n`);
    throw err;
  }
  for (const w of summary.warnings) log.warn({ warning: w }, 'rotation_warning');
  if (summary.redis !== undefined) log.info({ ...summary.redis }, 'redis_sync');
  log.info({ ok: summary.ok, duration_ms: summary.duration_ms, errors: summary.errors.length }, 'rotation_summary');
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.ok ? 0 : EXIT_FAILURE;
}

async function rotateForever(opts: RotateCliOptions, intervalMs: number, log: Logger): Promise<void> {
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  log.info({ interval_ms: intervalMs }, 'rotator started');
  while (!stopping) {
    try {
      await rotateOnce(opts, log);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'rotation failed');
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
      if (stopping) wake();
    });
  }
  log.info('rotator stopped');
}
