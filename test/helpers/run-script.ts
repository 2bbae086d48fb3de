import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository root, for running scripts the way a user does. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface ScriptResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `scripts/<name>.ts` through tsx in a child process, as `npm run` would, and resolves with its
 * exit code and output whatever the code (a non-zero exit is a result here, not an error).
 */
export function runScript(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', resolve(REPO_ROOT, 'scripts', `${name}.ts`), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`cannot run ${name}: ${err.message}`));
          return;
        }
        resolvePromise({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}
