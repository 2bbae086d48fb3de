/**
 * One process of the embedded stack: spawned in its own process group (so a Ctrl-C in the terminal
 * reaches the runner only, and the runner alone decides the order of shutdown), its output
 * prefixed with its name line by line, stopped with SIGTERM and then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** How a child ended. */
export interface ChildExit {
  readonly name: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the runner asked it to stop. */
  readonly requested: boolean;
}

export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Run as this user and group (the runner is root); default the runner's own. */
  readonly user?: { readonly uid: number; readonly gid: number } | undefined;
}

/** How long an exit report waits for the last output lines. */
const DRAIN_WAIT_MS = 1000;

/** Lines kept per child, for the error message when it dies during start. */
const TAIL_LINES = 30;

export class StackChild {
  readonly name: string;
  readonly pid: number;
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<ChildExit>;
  readonly #process: ChildProcess;
  readonly #tail: string[] = [];
  #stopRequested = false;

  private constructor(spec: ChildSpec, child: ChildProcess, write: (line: string) => void) {
    this.name = spec.name;
    this.#process = child;
    this.pid = child.pid ?? 0;
    const prefix = `${spec.name.padEnd(15)} | `;
    const pipe = (stream: Readable | null): Promise<void> => {
      if (stream === null) return Promise.resolve();
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => {
        this.#tail.push(line);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
        write(`${prefix}${line}`);
      });
      return once(lines, 'close').then(() => undefined);
    };
    const drained = Promise.all([pipe(child.stdout), pipe(child.stderr)]);
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, sig) => resolve([code, sig])));
    this.exited = exit.then(async ([code, signal]) => {
      // Print what the child wrote before reporting its end; a grandchild that holds the pipes
      // open (redis-server under the watchdog) must not hold the report back for long.
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, DRAIN_WAIT_MS).unref())]);
      return { name: this.name, code, signal, requested: this.#stopRequested };
    });
  }

  /** Spawns `spec`; rejects when the program cannot be started at all. */
  static async start(spec: ChildSpec, write: (line: string) => void): Promise<StackChild> {
    const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(spec.user === undefined ? {} : { uid: spec.user.uid, gid: spec.user.gid }) });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start ${spec.name} (${spec.command}): ${err.message}`)));
    });
    return new StackChild(spec, child, write);
  }

  get running(): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null;
  }

  /** The child's last lines of output, for an error message. */
  tail(): string {
    return this.#tail.join('\n');
  }

  /**
   * SIGTERM, then SIGKILL to the whole process group if it has not exited within `graceMs`
   * (the group holds anything it started, such as redis-server under the watchdog).
   */
  async stop(graceMs: number): Promise<ChildExit> {
    this.#stopRequested = true;
    if (this.running) signal(this.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return outcome;
    signal(-this.pid, 'SIGKILL');
    return this.exited;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    // Already gone between the check and the kill.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
