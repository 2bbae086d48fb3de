/**
 * `node watchdog.js <command> [args...]`: runs a program that cannot preload the orphan guard
 * (redis-server) so that it, too, stops when the stack runner dies. It passes SIGTERM/SIGINT on,
 * exits with the program's status, and stops the program when its own parent is gone.
 */
import { spawn } from 'node:child_process';
import { ORPHAN_GUARD_ENV, watchParent } from './parent-watch.js';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('usage: watchdog.js <command> [args...]\n');
  process.exit(2);
}
const child = spawn(command, args, { stdio: 'inherit' });
child.on('error', (err) => {
  process.stderr.write(`watchdog: cannot run ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 128));
});
const forward = (signal: NodeJS.Signals): void => {
  if (child.pid !== undefined && child.exitCode === null) child.kill(signal);
};
process.on('SIGTERM', () => forward('SIGTERM'));
process.on('SIGINT', () => forward('SIGINT'));

const parent = Number(process.env[ORPHAN_GUARD_ENV]);
if (Number.isInteger(parent) && parent > 1) {
  watchParent(parent, () => {
    forward('SIGTERM');
    setTimeout(() => forward('SIGKILL'), 5000).unref();
  });
}
