import { rotateProgram } from '../src/cli/rotate.js';
import { runCli } from '../src/cli/run.js';

process.exitCode = await runCli(rotateProgram(), process.argv);
