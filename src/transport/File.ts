/**
 * Replay and pipes: `FileLineSource` reads a saved log (or stdin with `-`),
 * and `StdoutLineSink` writes the generator's lines to stdout so that
 * `loglens generate | nc -lk 9999` works as the seed's pipeline did.
 *
 * A file's position is its byte offset after the last whole line, so a
 * replay interrupted by a crash resumes exactly where its checkpoint says.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as fs from "node:fs"
import * as path from "node:path"
import { describeIoError } from "../io/IoError.ts"
import { linesPayload } from "../io/LinesPayload.ts"
import { framedLines } from "./LineSplitter.ts"
import { LineSink, SinkError } from "./LineSink.ts"
import { LineSource, SourceError } from "./LineSource.ts"

const READ_SIZE = 1 << 20

export const FileLineSource = {
  /** `file` is a path, or `-` for stdin (which cannot be resumed). */
  layer: (options: { readonly file: string; readonly maxLineBytes: number }) => {
    const fromStdin = options.file === "-"
    const absolute = fromStdin ? "-" : path.resolve(options.file)
    return Layer.succeed(LineSource, {
      description: fromStdin ? "stdin" : `file:${options.file}`,
      identity: fromStdin ? "stdin" : `file:${absolute}`,
      live: false,
      batches: (from) => {
        const startByte = fromStdin ? 0 : (from?.["bytes"] ?? 0)
        const bytes = NodeStream.fromReadable<Uint8Array, SourceError>({
          evaluate: () =>
            fromStdin ? process.stdin : fs.createReadStream(absolute, { start: startByte, highWaterMark: READ_SIZE }),
          onError: (cause) =>
            new SourceError({ message: `cannot read ${options.file}: ${describeIoError(cause)}`, cause }),
          closeOnDone: !fromStdin
        })
        return framedLines(
          bytes,
          options.maxLineBytes,
          (consumed) => fromStdin ? {} : { bytes: startByte + consumed },
          { skipLeadingBom: startByte === 0 }
        )
      },
      commit: () => Effect.void
    })
  }
}

export const StdoutLineSink = {
  layer: Layer.sync(LineSink, () => {
    // EPIPE and friends arrive as 'error' events; remember the first and fail the next write with it.
    let broken: Error | undefined
    process.stdout.on("error", (error) => void (broken ??= error))
    const fail = (error: Error) =>
      Effect.fail(
        new SinkError({
          message: `cannot write to stdout: ${error.message}`,
          readerGone: (error as NodeJS.ErrnoException).code === "EPIPE",
          cause: error
        })
      )
    return LineSink.of({
      description: "stdout",
      write: (lines) =>
        Effect.suspend(() => {
          if (broken !== undefined) return fail(broken)
          // Below the high-water mark the next batch is generated while this one is written.
          if (process.stdout.write(linesPayload(lines))) return Effect.void
          return Effect.callback<void, SinkError>((resume) => {
            const onDrain = () => {
              process.stdout.off("error", onError)
              resume(Effect.void)
            }
            const onError = (error: Error) => {
              process.stdout.off("drain", onDrain)
              resume(fail(error))
            }
            process.stdout.once("drain", onDrain)
            process.stdout.once("error", onError)
          })
        })
    })
  })
}
