/** The variable through which the stack runner tells its children its pid. */
export const ORPHAN_GUARD_ENV = 'ZT_STACK_PARENT_PID';

/** How often a child looks at its parent pid; a parent's death is noticed within this. */
const POLL_MS = 250;

/**
 * Calls `onGone` once when this process's parent is no longer `parentPid` (it died and the process
 * was re-parented to init or a subreaper). The timer never keeps the process alive by itself.
 */
export function watchParent(parentPid: number, onGone: () => void): () => void {
  const timer = setInterval(() => {
    if (process.ppid !== parentPid) {
      clearInterval(timer);
      onGone();
    }
  }, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
