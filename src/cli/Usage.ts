/**
 * What the command line says when it is used wrongly, and its exit codes.
 *
 * A bad invocation (an unknown flag or command, a refused value, flags that
 * do not go together) prints one line on stderr that names the problem and
 * points at `--help`, and exits 2. A bare `loglens` prints a short usage and
 * exits 2 too. `--help` and `--version` are the library's own and exit 0.
 * Any other failure exits 1; a run stopped by SIGINT / SIGTERM exits 0.
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CliError, CliOutput } from "effect/cli"

/** Flags that are each valid but cannot go together, found once they are parsed. */
export class OptionError extends Schema.TaggedError<OptionError>()("OptionError", {
  message: Schema.String,
  /** The command whose `--help` explains the flags: `["loglens", "analyze"]`. */
  commandPath: Schema.Array(Schema.String)
}) {}

/** `run "loglens analyze --help" to see every flag`. */
const helpHint = (commandPath: ReadonlyArray<string>): string => `run "${commandPath.join(" ")} --help" to see every flag`

const didYouMean = (suggestions: ReadonlyArray<string>): string =>
  suggestions.length === 0 ? "" : ` (did you mean ${suggestions.join(" or ")}?)`

/** The problem in one clause, without the library's multi-line layout. */
export const describeCliError = (error: CliError.CliError): string => {
  switch (error._tag) {
    case "UnrecognizedOption":
      return `unknown flag ${error.option}${didYouMean(error.suggestions)}`
    case "UnknownSubcommand":
      return `unknown command "${error.subcommand}"${didYouMean(error.suggestions)}`
    case "InvalidValue": {
      // The flag builders' messages start with the flag (or its environment variable).
      if (error.expected.startsWith(`--${error.option} `) || error.expected.startsWith("$")) return error.expected
      if (error.value === "") return `--${error.option} needs a value`
      const expected = error.expected.replace(/^Expected:? /, "")
      return `--${error.option} expects ${expected}, got "${error.value}"`
    }
    default:
      return error.message.split("\n")[0]!
  }
}

/** The one line a bad invocation prints. */
export const usageErrorLine = (problem: string, commandPath: ReadonlyArray<string>): string =>
  `loglens: ${problem}; ${helpHint(commandPath)}`

const shortUsage = [
  "usage: loglens generate [flags]   emit synthetic HTTP access logs (stdout, a TCP server or Kafka)",
  "       loglens analyze [flags]    watch a live log stream or replay a file for HTTP errors",
  `${helpHint(["loglens"])}, or "loglens generate --help" / "loglens analyze --help" for one command's flags`
].join("\n")

/** Replaces the library's output for bad invocations and a bare `loglens`; help and version stay its own. */
export const presenter: CliOutput.Presenter = {
  present: (event) => {
    if (event._tag === "InvalidInvocation") {
      const first = event.errors[0]
      return first === undefined ? Console.error(shortUsage) : Console.error(usageErrorLine(describeCliError(first), event.commandPath))
    }
    if (event._tag === "Help" && event.reason === "Implicit") return Console.error(shortUsage)
    return CliOutput.defaultPresenter.present(event)
  }
}

/** Prints an `OptionError` as the same one line; other failures are left to the caller. */
export const reportOptionError = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapError(self, (error) =>
    error instanceof OptionError ? Console.error(usageErrorLine(error.message, error.commandPath)) : Effect.void)

const isUsageError = (error: unknown): boolean => error instanceof OptionError || CliError.isCliError(error)

/** 0: done or stopped by a signal; 2: used wrongly (already explained); 1: anything else. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
  return Option.match(Cause.findErrorOption(exit.cause), { onNone: () => 1, onSome: (e) => (isUsageError(e) ? 2 : 1) })
}
