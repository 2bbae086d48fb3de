/**
 * Preloaded into every service the embedded stack starts (`node --import .../orphan-guard.js`).
 * When the stack runner dies without stopping its children (SIGKILL, a crash), the kernel
 * re-parents them; this notices the new parent and stops the service the way a SIGTERM does, so
 * that `npm start` never leaves services holding ports behind it. A process group alone would not
 * do: nobody signals the group when its leader is killed.
 */
import { ORPHAN_GUARD_ENV, watchParent } from './parent-watch.js';

const parent = Number(process.env[ORPHAN_GUARD_ENV]);
if (Number.isInteger(parent) && parent > 1) {
  watchParent(parent, () => {
    process.stderr.write(`orphan-guard: the stack runner (pid ${parent}) is gone; stopping\n`);
    // The service's own SIGTERM handler closes its listeners; if it hangs, leave anyway.
    setTimeout(() => process.exit(1), 5000).unref();
    process.kill(process.pid, 'SIGTERM');
  });
}
