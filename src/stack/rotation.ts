/**
 * The embedded stack's cert rotator: the same rotation the compose `cert-rotator` runs, in process,
 * on a timer. Services notice each swap of `current` and reload, so short-lived certificates roll
 * while the stack runs. One run at a time; a run that finds the PKI lock taken skips.
 */
import { errorMessage } from '../shared/errors.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import { PkiLockedError, withPkiLock } from '../pki/lock.js';
import { rotate } from '../pki/rotate.js';
import type { Topology } from '../shared/topology.js';

/** Starts rotating every `intervalMs`; returns a function that stops it and waits for a run in progress. */
export function startRotation(layout: PkiLayout, spec: Topology, intervalMs: number, say: (line: string) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  const once = async (): Promise<void> => {
    try {
      const summary = await withPkiLock(layout, () => rotate(layout, spec), { wait: false });
      const renewed = summary.leaves.filter((l) => l.action === 'renewed' || l.action === 'issued').map((l) => l.workload);
      if (summary.intermediate.action === 'renewed') renewed.unshift('intermediate');
      if (summary.jwt.action !== 'kept' && summary.jwt.action !== 'failed') renewed.push('jwt');
      if (!summary.ok) say(`rotation failed: ${summary.errors.join('; ')}`);
      else if (renewed.length > 0) say(`renewed ${renewed.join(', ')}`);
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
}
