import { watch, type FSWatcher } from 'node:fs';

/** A running watch; `close()` stops it and its timers. */
export interface DirectoryWatch {
  close(): void;
}

export interface WatchOptions {
  /** Fallback poll, for filesystems whose watch events are unreliable (some bind mounts). */
  readonly pollMs: number;
  /** Events within this long of each other are one change. Default 50 ms. */
  readonly debounceMs?: number;
  /** Only entries for which this is true count; default every entry. */
  readonly filter?: (name: string) => boolean;
  readonly onError?: (err: Error) => void;
}

/**
 * Calls `onChange` once after a burst of changes in `dir`, and every `pollMs` regardless. Files
 * here are replaced by rename (the PKI swaps `current`, the rotator renames jwks.json into place),
 * so the directory is watched, not the file: a watch on a file follows its old inode. One swap is
 * several directory events (a temporary entry, a rename, a prune); the debounce reads once after
 * them. `onChange` decides whether anything really changed.
 */
export function watchDirectory(dir: string, onChange: () => void, options: WatchOptions): DirectoryWatch {
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(onChange, options.debounceMs ?? 50);
    debounce.unref();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, (_event, name) => {
      if (name === null || options.filter === undefined || options.filter(name)) schedule();
    });
    watcher.on('error', (err) => options.onError?.(err));
  } catch (err) {
    options.onError?.(err instanceof Error ? err : new Error(String(err)));
  }
  const poll = setInterval(schedule, options.pollMs);
  poll.unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
    },
  };
}
