import { Command } from 'commander';
import { initPki, issueWorkload, pkiStatus, renewIntermediateNow, type StatusRow } from '../pki/authority.js';
import { withPkiLock } from '../pki/lock.js';
import { parseDuration } from '../shared/settings/schemas.js';
import { durationOption, EXIT_FAILURE, pkiContext, withPkiOptions, type PkiOptions } from './run.js';

/** `pki init | issue <workload> | status`: the internal CA's operator commands. */
export function pkiProgram(): Command {
  const program = new Command('pki').description('Manage the internal PKI: CA, workload certificates and JWT keys.');

  withPkiOptions(program.command('init'))
    .description('Create the CA, every workload certificate and the JWT key. Idempotent: with everything present it changes nothing.')
    .option('--force', 'recreate everything: a new root, intermediate, every leaf and a new JWT key')
    .action(async (opts: PkiOptions & { force?: boolean }) => {
      const { layout, spec } = pkiContext(opts);
      const started = performance.now();
      process.stderr.write(`pki: ${opts.force ? 'recreating' : 'initialising'} ${layout.dir} from ${spec.file} (trust domain ${spec.trustDomain})\n`);
      const result = await withPkiLock(layout, () => initPki(layout, spec, { force: opts.force === true }), { wait: true });
      const ms = Math.round(performance.now() - started);
      if (result.changed) {
        process.stdout.write(`pki: created ${result.created.join(', ')} in ${ms} ms\n`);
      } else {
        process.stdout.write(`pki: ${layout.dir} is already initialised; nothing changed (use --force to recreate)\n`);
      }
    });

  withPkiOptions(program.command('issue'))
    .description('Issue (or reissue) one workload certificate (and Redis password, for a Redis user) now, replacing current atomically; with REDIS_URL, Redis takes the new password first.')
    .argument('<workload>', 'a workload named in the PKI declaration')
    .option('--ttl <duration>', 'lifetime of this certificate (default: from the declaration; at least 5m)')
    .action(async (workload: string, opts: PkiOptions & { ttl?: string }) => {
      const { layout, spec, redis } = pkiContext(opts);
      const ttlMs = opts.ttl === undefined ? undefined : durationOption('--ttl', opts.ttl, parseDuration);
      const info = await withPkiLock(layout, () => issueWorkload(layout, spec, workload, { ...(ttlMs === undefined ? {} : { ttlMs }), ...(redis === undefined ? {} : { redis }) }), { wait: true });
      process.stdout.write(`pki: issued ${workload} ${info.spiffeId ?? ''} serial ${info.serial}, valid until ${info.notAfter.toISOString()}\n`);
    });

  withPkiOptions(program.command('renew-intermediate'))
    .description(
      'Renew the intermediate CA with the root key (ZT_PKI_ROOT_DIR), then reissue every leaf under it and keep Redis in step (REDIS_URL). The rotator never does this: it has no root key. Prints the rotation summary; exits 1 on any failure.',
    )
    .option('--leaves-by-rotator', 'renew the intermediate only; the rotator reissues every leaf at its next run, keeping Redis in step (for a place that cannot reach Redis, such as compose\'s pki-init)')
    .action(async (opts: PkiOptions & { leavesByRotator?: boolean }) => {
      const { layout, spec, redis } = pkiContext(opts);
      process.stderr.write(`pki: renewing the intermediate with ${layout.rootKey}\n`);
      const summary = await withPkiLock(layout, () => renewIntermediateNow(layout, spec, { ...(redis === undefined ? {} : { redis }), leavesByRotator: opts.leavesByRotator === true }), { wait: true });
      if (summary === undefined) {
        process.stdout.write(`${JSON.stringify({ ok: true, intermediate: 'renewed', leaves: 'left to the rotator, which reissues every leaf at its next run' })}\n`);
        return;
      }
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (!summary.ok) process.exitCode = EXIT_FAILURE;
    });

  withPkiOptions(program.command('status'))
    .description('Show every certificate: SPIFFE ID, serial, not-after, time left and whether it is due for renewal.')
    .option('--json', 'print JSON instead of a table')
    .option('--check', 'exit 1 when any certificate is missing, invalid or expired, or the intermediate is due (only an operator renews it): for health checks')
    .action(async (opts: PkiOptions & { json?: boolean; check?: boolean }) => {
      const { layout, spec } = pkiContext(opts);
      const rows = await pkiStatus(layout, spec);
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
      const bad = rows.filter((r) => r.state === 'missing' || r.state === 'invalid' || r.state === 'expired');
      for (const r of bad) if (r.error) process.stderr.write(`pki: ${r.name}: ${r.error}\n`);
      // Leaves that are due renew themselves; an intermediate that is due waits for an operator.
      const intermediateDue = rows.some((r) => r.name === 'intermediate' && r.state === 'due');
      if (intermediateDue) process.stderr.write('pki: intermediate: due for renewal, which the rotator cannot do (it has no root key): run pki renew-intermediate\n');
      if ((bad.length > 0 || intermediateDue) && opts.check) process.exitCode = EXIT_FAILURE;
      if (rows.some((r) => r.state === 'invalid')) process.exitCode = EXIT_FAILURE;
    });

  return program;
}

/** Renders status rows as an aligned text table. */
export function statusTable(rows: readonly StatusRow[]): string {
  const header = ['WORKLOAD', 'SPIFFE ID', 'SERIAL', 'NOT AFTER', 'TIME LEFT', 'RENEW'];
  const cells = rows.map((r) => [
    r.name,
    r.spiffe_id,
    r.serial ?? '-',
    r.not_after ?? '-',
    r.seconds_left === undefined ? '-' : humanDuration(r.seconds_left),
    r.state === 'ok' ? 'no' : r.state === 'due' ? 'due' : r.state.toUpperCase(),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => c.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

/** 90061 -> "1d 1h 1m"; negative durations read "expired". */
export function humanDuration(seconds: number): string {
  if (seconds <= 0) return 'expired';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m || (!d && !h) ? `${m}m` : ''].filter(Boolean);
  return parts.join(' ');
}
