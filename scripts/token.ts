import { runCli } from '../src/cli/run.js';
import { tokenProgram } from '../src/cli/token.js';

process.exitCode = await runCli(tokenProgram(), process.argv);
