/**
 * Replay and pipes: `FileLineSource` reads a saved log (or stdin with `-`),
 * and `StdoutLineSink` writes the generator's lines to stdout so that
 * `loglens generate | nc -lk 9999` works as the seed's pipeline did.
 *
 * A file's position is its byte offset after the last whole line, so a
 * replay interrupted by a crash resumes exactly where its checkpoint says.
 * stdin cannot be reopened: its position adds a fingerprint of those bytes
 * (`PrefixFingerprint`), and a rerun reads its input's first bytes again and
 * goes on only if they are the same; other input is refused in plain words.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Readable } from "node:stream"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import { describeIoError } from "../io/IoError.ts"
import { linesPayload } from "../io/LinesPayload.ts"
import { framedLines } from "./LineSplitter.ts"
import { LineSink, SinkError } from "./LineSink.ts"
import { LineSource, SourceError } from "./LineSource.ts"
import { fingerprintOf, PrefixFingerprint } from "./PrefixFingerprint.ts"

const READ_SIZE = 1 << 20

/** stdin is not the input a checkpoint was made from; the message says how. */
class OtherInput extends Error {}

const START_OVER = "Start over with --clean (or another --output) to analyse this input from its beginning."

/**
 * stdin after the `prefix.bytes` bytes a checkpoint has consumed, once their fingerprint matches; the
 * hash of the prefix is left in `hash`. `mustEnd`: the checkpoint's run read its input to the end.
 */
async function* stdinAfter(prefix: SourcePosition, hash: crypto.Hash, mustEnd: boolean): AsyncGenerator<Uint8Array> {
  const bytes = prefix["bytes"] ?? 0
  let left = bytes
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let rest: Uint8Array = chunk
    if (left > 0) {
      const take = Math.min(left, chunk.length)
      hash.update(chunk.subarray(0, take))
      left -= take
      if (left > 0) continue
      if (fingerprintOf(hash) !== prefix["fingerprint"]) {
        throw new OtherInput(
          `stdin does not start with the ${bytes.toLocaleString("en-US")} bytes that the checkpoint has already analysed ` +
            `(their fingerprint differs): it is other input. Feed the same input to continue that run. ${START_OVER}`
        )
      }
      rest = chunk.subarray(take)
    }
    if (rest.length === 0) continue
    if (mustEnd) {
      throw new OtherInput(
        `stdin goes on past the ${bytes.toLocaleString("en-US")} bytes that an earlier run analysed to their end ` +
          `(its windows are closed), so it is other input. ${START_OVER}`
      )
    }
    yield rest
  }
  if (left > 0) {
    throw new OtherInput(
      `stdin ended after ${(bytes - left).toLocaleString("en-US")} bytes, before the ` +
        `${bytes.toLocaleString("en-US")} bytes that the checkpoint has already analysed: it is other input. ${START_OVER}`
    )
  }
}

export const FileLineSource = {
  /** `file` is a path, or `-` for stdin. */
  layer: (options: { readonly file: string; readonly maxLineBytes: number }) => {
    const fromStdin = options.file === "-"
    const absolute = fromStdin ? "-" : path.resolve(options.file)
    const readError = (cause: unknown) =>
      new SourceError({
        message: cause instanceof OtherInput ? cause.message : `cannot read ${options.file}: ${describeIoError(cause)}`,
        cause
      })
    const read = (from: SourcePosition | undefined, mustEnd: boolean) => {
      const prefixHash = crypto.createHash("sha1")
      const startByte = from?.["bytes"] ?? 0
      const bytes = NodeStream.fromReadable<Uint8Array, SourceError>({
        evaluate: () =>
          !fromStdin
            ? fs.createReadStream(absolute, { start: startByte, highWaterMark: READ_SIZE })
            : startByte > 0 || mustEnd
            ? Readable.from(stdinAfter(from ?? {}, prefixHash, mustEnd), { objectMode: false })
            : process.stdin,
        onError: readError,
        closeOnDone: !fromStdin || startByte > 0
      })
      return { bytes, startByte, prefixHash }
    }
    return Layer.succeed(LineSource, {
      description: fromStdin ? "stdin" : `file:${options.file}`,
      identity: fromStdin ? "stdin" : `file:${absolute}`,
      live: false,
      batches: (from) => {
        const { bytes, startByte, prefixHash } = read(from, false)
        return framedLines(
          bytes,
          options.maxLineBytes,
          (consumed, splitter) =>
            fromStdin
              ? { bytes: startByte + consumed, fingerprint: splitter.fingerprint!.value() }
              : { bytes: startByte + consumed },
          {
            skipLeadingBom: startByte === 0,
            ...(fromStdin ? { fingerprint: () => new PrefixFingerprint(prefixHash) } : {})
          }
        )
      },
      checkEnded: (position) =>
        fromStdin
          ? read(position, true).bytes.pipe(Stream.runDrain)
          : Effect.tryPromise({
            try: () => fs.promises.stat(absolute),
            catch: readError
          }).pipe(Effect.flatMap((stat) => {
            const bytes = position["bytes"] ?? 0
            if (stat.size === bytes) return Effect.void
            return Effect.fail(
              new SourceError({
                message: `${options.file} is ${stat.size.toLocaleString("en-US")} bytes long now, but an earlier run ` +
                  `analysed it to its end at ${bytes.toLocaleString("en-US")} bytes (its windows are closed): the file ` +
                  `changed since. ${START_OVER}`
              })
            )
          })),
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
