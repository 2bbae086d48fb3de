import { runCli } from '../src/cli/run.js';
import { watchProgram } from '../src/cli/watch.js';

process.exitCode = await runCli(watchProgram(), process.argv);
