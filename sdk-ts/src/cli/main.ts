#!/usr/bin/env node
/**
 * The `rustdht` executable (package.json "bin"). Everything testable lives in run.ts;
 * this file only binds it to the process.
 */
import { processIO } from './io.js';
import { exitCodeOf, formatError, run } from './run.js';

// A failure outside any awaited call (a library's timer, an event listener) still ends
// with one clear line and a non-zero exit, not a stack dump.
const fatal = (error: unknown): void => {
  processIO.stderr(formatError(error, process.env['RUSTDHT_DEBUG'] === '1'));
  process.exit(exitCodeOf(error));
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const code = await run(process.argv.slice(2), processIO);
process.exitCode = code;
// Everything is closed by now, but libp2p may leave sockets or timers winding down for
// a second or so: a finished command (or a stopped server) exits as soon as its output
// is flushed rather than waiting for them.
let unflushed = 2;
const flushed = (): void => {
  if (--unflushed === 0) process.exit(code);
};
process.stdout.write('', flushed);
process.stderr.write('', flushed);
