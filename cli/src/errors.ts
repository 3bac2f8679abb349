// The CLI's error type and its exit codes (docs/cli.md, Exit codes). Every command throws
// CliError with one of these codes; main() prints the message and exits with the code. Errors of
// other kinds are classified once, by exitCodeOf in main.ts.

/** Success (`diff`: no differences). */
export const EXIT_OK = 0;
/** The request failed at run time: invalid input, refused by the controller, or a failed wait. */
export const EXIT_FAILED = 1;
/** Wrong usage of the command line: unknown command or flag, bad flag value, missing argument, conflicting flags. */
export const EXIT_USAGE = 2;
/** The controller could not be reached or did not answer. */
export const EXIT_UNAVAILABLE = 3;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}
