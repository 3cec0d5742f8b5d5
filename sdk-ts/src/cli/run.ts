/**
 * Dispatches a command line to its command and turns every outcome into an exit code
 * and, on failure, exactly one line on stderr: `rustdht: CODE: message`. Stack traces
 * are for developers and only printed with RUSTDHT_DEBUG=1.
 *
 * Commands are imported on demand: `rustdht --help` must answer instantly and work
 * even where the WebAssembly engine or libp2p would fail to load.
 */
import { RustDHTError } from '../api/errors.js';
import { VERSION } from '../server/version.js';
import { helpText, parseCommandLine, type Invocation } from './args.js';
import { CliError, EXIT, UsageError } from './cli-error.js';
import { processIO, type CliIO } from './io.js';

async function dispatch(invocation: Invocation, io: CliIO): Promise<number> {
  switch (invocation.command) {
    case 'help':
      io.stdout(helpText(invocation.topic));
      return EXIT.ok;
    case 'version':
      io.stdout(`${VERSION}\n`);
      return EXIT.ok;
    case 'serve': {
      const { serve } = await import('./serve.js');
      return serve(invocation.options, io);
    }
    case 'get': {
      const { runGet } = await import('./client-commands.js');
      return runGet(invocation.options, io);
    }
    case 'put': {
      const { runPut } = await import('./client-commands.js');
      return runPut(invocation.options, io);
    }
    case 'watch': {
      const { runWatch } = await import('./client-commands.js');
      return runWatch(invocation.options, io);
    }
    case 'where': {
      const { runWhere } = await import('./where-command.js');
      return runWhere(invocation.options, io);
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** The stderr text for a failure: one line, plus the stack (and causes) when `debug`. */
export function formatError(error: unknown, debug = false): string {
  let line: string;
  if (error instanceof UsageError) {
    line = `rustdht: ${error.code}: ${oneLine(error.message)} (see rustdht ${error.command === undefined ? '' : `${error.command} `}--help)`;
  } else if (error instanceof RustDHTError) {
    line = `rustdht: ${error.code}: ${oneLine(error.message)}`;
  } else if (error instanceof Error) {
    // Node system errors (EACCES, ENOSPC…) carry a code their message already starts with.
    const code = (error as { code?: unknown }).code;
    const message = oneLine(error.message);
    line = typeof code === 'string' && !message.startsWith(code) ? `rustdht: ${code}: ${message}` : `rustdht: ${message}`;
  } else {
    line = `rustdht: ${oneLine(String(error))}`;
  }
  if (!debug) return `${line}\n`;
  let details = '';
  for (let cause: unknown = error; cause !== undefined; cause = cause instanceof Error ? cause.cause : undefined) {
    details += `${cause instanceof Error ? (cause.stack ?? String(cause)) : String(cause)}\n`;
    if (!(cause instanceof Error)) break;
  }
  return `${line}\n${details}`;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof CliError ? error.exitCode : EXIT.failure;
}

/** Runs `rustdht <argv…>`; resolves with the exit code (never rejects). */
export async function run(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  try {
    return await dispatch(parseCommandLine(argv, io.env), io);
  } catch (error) {
    io.stderr(formatError(error, io.env['RUSTDHT_DEBUG'] === '1'));
    return exitCodeOf(error);
  }
}
