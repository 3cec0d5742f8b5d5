/**
 * Everything the commands touch of the process (output streams, environment,
 * termination signals, exit), gathered in one object so tests can run a command
 * in-process and capture what it prints instead of spawning it.
 */

export type TerminationSignal = 'SIGINT' | 'SIGTERM';

export interface CliIO {
  /** Writes to standard output, as given (add the newline). */
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether standard output is a terminal (colour in pretty logs). */
  readonly stdoutIsTTY: boolean;
  /**
   * Calls `handler` on SIGINT or SIGTERM instead of the default (exit at once). Returns
   * the function that restores the default.
   */
  readonly onSignal: (handler: (signal: TerminationSignal) => void) => () => void;
  /** Ends the process now (a forced stop, when graceful shutdown is not wanted any more). */
  readonly exit: (code: number) => never;
}

export const processIO: CliIO = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stdoutIsTTY: process.stdout.isTTY === true,
  onSignal(handler) {
    const onInt = (): void => handler('SIGINT');
    const onTerm = (): void => handler('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    return () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
  },
  exit: (code) => process.exit(code),
};
