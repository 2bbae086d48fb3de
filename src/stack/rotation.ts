/**
 * The embedded stack's cert rotator: the same rotation the compose `cert-rotator` runs, in process,
 * on a timer, Redis sync included when the stack has a Redis. Services notice each swap of `current`
 * and reload, so short-lived certificates roll while the stack runs. One run at a time; a run that
 * finds the PKI lock taken skips.
 */
import { errorMessage } from '../shared/errors.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { PkiLockedError, withPkiLock } from '../pki/lock.js';
import { rotate, type RotateOptions, type RotateSummary } from '../pki/rotate.js';
import type { Topology } from '../shared/topology.js';

/** The stack's rotator: one run on demand, or one per interval. */
export interface StackRotator {
  /**
   * One rotation now (waiting for the lock), with the stack's Redis kept in step; what the timer
   * runs, and what a test calls to rotate exactly as the stack does.
   */
  runOnce(options?: Pick<RotateOptions, 'force' | 'forceJwt'>): Promise<RotateSummary>;
  /** Starts rotating every `intervalMs`; returns a function that stops it and waits for a run in progress. */
  every(intervalMs: number): () => Promise<void>;
}

export function createRotator(layout: PkiLayout, spec: Topology, redis: RedisServer | undefined, say: (line: string) => void): StackRotator {
  const runOnce = (options: Pick<RotateOptions, 'force' | 'forceJwt'> = {}): Promise<RotateSummary> =>
    withPkiLock(layout, () => rotate(layout, spec, { ...options, ...(redis === undefined ? {} : { redis }) }), { wait: true });
  const report = (summary: RotateSummary): void => {
    const renewed = summary.leaves.filter((l) => l.action === 'renewed' || l.action === 'issued').map((l) => l.workload);
    if (summary.jwt.action !== 'kept' && summary.jwt.action !== 'failed') renewed.push('jwt');
    for (const w of summary.warnings) say(`warning: ${w}`);
    if (!summary.ok) say(`rotation failed: ${summary.errors.join('; ')}`);
    else if (renewed.length > 0) say(`renewed ${renewed.join(', ')}${summary.redis?.tls === 'reloaded' ? `; Redis reloaded its certificate (serial ${summary.redis.serial ?? '?'})` : ''}`);
  };
  return {
    runOnce,
    every(intervalMs) {
      let running: Promise<void> | undefined;
      const once = async (): Promise<void> => {
        try {
          report(await withPkiLock(layout, () => rotate(layout, spec, redis === undefined ? {} : { redis }), { wait: false }));
        } catch (err) {
          if (!(err instanceof PkiLockedError)) say(`rotation failed: ${errorMessage(err)}`);
        }
      };
      const timer = setInterval(() => {
        running ??= once().finally(() => {
          running = undefined;
        });
      }, intervalMs);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await running;
      };
    },
  };
}
