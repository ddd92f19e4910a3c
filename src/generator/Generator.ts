/**
 * The generator: a stream of lines at a steady rate into a `LineSink`.
 *
 * At `--rate R` line i is due at `start + i/R` seconds, and each step emits
 * exactly the lines that are due, so output is even from the first line
 * and a slow sink makes it catch up rather than drift. At `--rate 0` it emits
 * batches as fast as the sink takes them. `start` is when the sink is ready
 * (the TCP server's first client), so waiting for it makes no start-up burst.
 * On stderr the generator says when it starts and, at the end, what it sent.
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { RecordGenerator, type GeneratorSettings } from "../domain/RecordGenerator.ts"
import { LineSink } from "../transport/LineSink.ts"

export interface GeneratorConfig extends GeneratorSettings {
  /** Lines per second; 0 means as fast as possible. */
  readonly rate: number
  /** Stop after this many lines; undefined runs until interrupted. */
  readonly count: number | undefined
}

// Large enough that per-batch stream overhead is noise at --rate 0, small enough that the strings of a
// batch die young (bigger batches measured slower: more GC). At a set rate, batches are what is due.
const MAX_BATCH = 1024

/** The generator's lines, in batches that each form one stream chunk. */
export const generatedLines = (config: GeneratorConfig): Stream.Stream<string> =>
  Stream.unwrap(Effect.gen(function*() {
    const records = new RecordGenerator(config)
    const header = records.header()
    const startMs = yield* Clock.currentTimeMillis
    const limit = config.count ?? Number.POSITIVE_INFINITY
    const step = Effect.fnUntraced(function*(emitted: number) {
      let due = Math.min(MAX_BATCH, limit - emitted)
      let now = yield* Clock.currentTimeMillis
      if (config.rate > 0) {
        const dueByNow = Math.floor(((now - startMs) * config.rate) / 1000) + 1
        if (dueByNow <= emitted) {
          // Sleep until the next line is due.
          const nextDueMs = startMs + Math.ceil((emitted * 1000) / config.rate)
          yield* Effect.sleep(Math.max(1, nextDueMs - now))
          now = yield* Clock.currentTimeMillis
        }
        due = Math.min(due, Math.max(1, Math.floor(((now - startMs) * config.rate) / 1000) + 1 - emitted))
      }
      const lines: Array<string> = []
      records.lines(due, now, lines)
      const total = emitted + due
      return [lines, total < limit ? Option.some(total) : Option.none()] as const
    })
    const body = limit <= 0 ? Stream.empty : Stream.paginate(0, step)
    return header === undefined ? body : Stream.concat(Stream.succeed(header), body)
  }))

export const runGenerator = Effect.fn("runGenerator")(function*(config: GeneratorConfig) {
  const sink = yield* LineSink
  if (sink.ready !== undefined) yield* sink.ready
  const startMs = yield* Clock.currentTimeMillis
  let sent = 0
  yield* Console.error(
    `loglens: sending ${config.rate > 0 ? `${formatCount(config.rate)} lines/s` : "lines as fast as possible"} to ${sink.description}` +
      (config.count === undefined ? " until stopped" : `, ${formatCount(config.count)} in all`)
  )
  yield* generatedLines(config).pipe(
    Stream.runForEachArray((lines) => Effect.map(sink.write(lines), () => void (sent += lines.length))),
    // `generate | head -5`: the reader has what it wanted, which ends the run like the end of --count.
    Effect.catchIf((error) => error.readerGone === true, () => Effect.void),
    // Also when stopped by a signal or a failure: what went out is worth knowing.
    Effect.onExit(() =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
        const seconds = Math.max(nowMs - startMs, 1) / 1000
        return Console.error(
          `loglens: sent ${formatCount(sent)} lines to ${sink.description} in ${seconds.toFixed(1)} s ` +
            `(${formatCount(Math.round(sent / seconds))} lines/s)`
        )
      })
    )
  )
})

const formatCount = (n: number) => n.toLocaleString("en-US")
