import { pkiProgram } from '../src/cli/pki.js';
import { runCli } from '../src/cli/run.js';

process.exitCode = await runCli(pkiProgram(), process.argv);
