#!/usr/bin/env node
import { healthProgram } from './health.js';
import { pkiProgram } from './pki.js';
import { rotateProgram } from './rotate.js';
import { runCli } from './run.js';
import { tokenProgram } from './token.js';
import { watchProgram } from './watch.js';

/**
 * The compiled entry for every command in the image: `node dist/cli/main.js <pki|rotate|token|health|watch> ...`.
 * In a checkout, `scripts/*.ts` run the same programs through tsx.
 */
const commands = { pki: pkiProgram, rotate: rotateProgram, token: tokenProgram, health: healthProgram, watch: watchProgram } as const;

const [name, ...rest] = process.argv.slice(2);
const make = commands[name as keyof typeof commands] as (typeof commands)[keyof typeof commands] | undefined;
if (make === undefined) {
  process.stderr.write(`usage: main.js <${Object.keys(commands).join('|')}> [options]  (each takes --help)\n`);
  process.exitCode = name === undefined || name === '--help' || name === '-h' ? 0 : 2;
} else {
  process.exitCode = await runCli(make(), [process.argv[0] ?? 'node', name ?? '', ...rest]);
}
