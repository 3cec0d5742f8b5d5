/**
 * The CLI's own failures, each carrying the process exit status it ends with, so the
 * dispatcher (run.ts) maps every outcome to an exit code in one place. They extend
 * RustDHTError so they print like every other typed error: `rustdht: CODE: message`.
 */
import { RustDHTError } from '../api/errors.js';

/** Exit statuses, as documented in `rustdht --help`. */
export const EXIT = {
  ok: 0,
  /** Not found, write refused or invalid, any other error. */
  failure: 1,
  /** No peer reachable, or the network did not answer within --timeout. */
  unreachable: 2,
  /** sysexits.h EX_USAGE: kept apart from 2 so scripts can tell a typo from a network outage. */
  usage: 64,
  /** sysexits.h EX_SOFTWARE: the engine trapped; a supervisor should restart the process. */
  engineTrapped: 70,
  /** 128 + SIGINT, the shell convention for "interrupted". */
  interrupted: 130,
} as const;

export class CliError extends RustDHTError {
  override readonly name: string = 'CliError';
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.exitCode = exitCode;
  }
}

/** A command line that does not parse: unknown command or option, missing or bad value. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError';
  /** The command whose --help explains the mistake (undefined: the top-level help). */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super('cli/usage', message, EXIT.usage);
    this.command = command;
  }
}
