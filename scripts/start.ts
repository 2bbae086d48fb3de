// `npm start`: the embedded stack (see src/stack/). `npm start -- --help` lists the options.
import { runCli } from '../src/cli/run.js';
import { startProgram } from '../src/stack/cli.js';

process.exitCode = await runCli(startProgram(), process.argv);
