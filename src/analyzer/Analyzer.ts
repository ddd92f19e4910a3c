/**
 * The analyzer, top to bottom:
 *
 *   recover from the checkpoint (Epoch.ts)
 *   LineSource ─► Analysis (validate, keep errors, watermark, windows, alerts)
 *              ─► epochs: buffer to the stores, commit (seal, checkpoint, publish, acknowledge)
 *              ─► console Report every trigger
 *   end of a replay: every window closes, a last epoch, the final report
 *   a signal: live input closes every window, a replay keeps them open in the
 *   checkpoint; then a last epoch and the final report
 *
 * The protocol that makes the outputs exactly-once is Epoch.ts's; this file
 * only decides when an epoch ends: every commit interval, at once when an
 * alert fires, at the end and at a stop.
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Analysis, type AnalysisSettings } from "../domain/Analysis.ts"
import type { CheckpointSettings } from "../sinks/CheckpointStore.ts"
import { LineSource, type LineBatch } from "../transport/LineSource.ts"
import { makeEpochs } from "./Epoch.ts"
import { makeObservers } from "./Observers.ts"
import { makeProgressBar } from "./Progress.ts"
import { reportOf } from "./Report.ts"
import { startRunSummary } from "./RunSummary.ts"

export interface AnalyzerConfig {
  readonly analysis: AnalysisSettings
  /** Shown on the dashboard. (default: local) */
  readonly mode?: "local" | "production"
  /** A replayed file of this size, on a terminal: a progress bar on stderr. */
  readonly progressTotalBytes?: number
  /** Console report period (`--trigger`). */
  readonly triggerMs: number
  /** Longest time between two epochs while data flows. */
  readonly commitIntervalMs: number
  /** The checkpoint's record of what shaped the results. */
  readonly checkpointSettings: Omit<CheckpointSettings, "source">
}

const TICK = "tick" as const

export const runAnalyzer = Effect.fn("runAnalyzer")(function*(config: AnalyzerConfig) {
  const source = yield* LineSource
  const analysis = new Analysis(config.analysis)
  const epochs = yield* makeEpochs(analysis, { source: source.identity, ...config.checkpointSettings })
  const recovery = yield* epochs.recover
  if (recovery._tag === "AlreadyFinished") return

  let lastCommitAt = yield* Clock.currentTimeMillis
  let lastReportAt = lastCommitAt
  const observers = yield* makeObservers(analysis, { mode: config.mode ?? "local", source: source.description }, lastCommitAt)
  if (recovery.from !== undefined) yield* observers.resume(lastCommitAt)
  let bytesRead = recovery.from?.["bytes"] ?? 0
  const progress = config.progressTotalBytes === undefined
    ? undefined
    : makeProgressBar(config.progressTotalBytes, { atMs: lastCommitAt, bytesBefore: bytesRead, linesBefore: analysis.counters.lines })
  const commit = (finished: boolean) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lastCommitAt = now
      // The epoch's alerts and closed rows, for the console and the alert states once they are published.
      const epoch = { alerts: [...epochs.out.alerts], closed: [...epochs.out.closed] }
      return Effect.andThen(epochs.commit(finished), observers.epochPublished(epoch, now))
    })
  const report = Effect.fnUntraced(function*(final: boolean) {
    const now = yield* Clock.currentTimeMillis
    lastReportAt = now
    yield* Console.log(reportOf(analysis, now, observers.firing(), final))
  })

  let announcedFormat: string | undefined = undefined
  const onEvents = Effect.fnUntraced(function*(events: ReadonlyArray<LineBatch | typeof TICK>) {
    const now = yield* Clock.currentTimeMillis
    const errorsBefore = epochs.out.errors.length
    for (const event of events) {
      if (event === TICK) continue
      analysis.sourceReady(now)
      observers.sourceReading()
      if (event.lines.length === 0 && event.rejected.length === 0) continue
      if (event.rejected.length > 0) analysis.rejectRaw(event.rejected, epochs.out)
      analysis.ingest(event.lines, now, epochs.out, event.partition, event.caughtUp)
      epochs.advance(event.position)
      if (analysis.detectedFormat !== announcedFormat) {
        announcedFormat = analysis.detectedFormat
        yield* Console.error(`loglens: --format auto reads ${source.description} as ${announcedFormat}`)
      }
      bytesRead = event.position["bytes"] ?? bytesRead
    }
    if (source.live) analysis.closeIfIdle(now, epochs.out)
    observers.noteErrors(epochs.out.errors, errorsBefore)
    const printing = epochs.out.alerts.length > 0 || now - lastReportAt >= config.triggerMs
    if (printing && progress !== undefined) yield* progress.clear
    if (epochs.out.alerts.length > 0 || now - lastCommitAt >= config.commitIntervalMs) yield* commit(false)
    else yield* epochs.bufferIfFull
    if (now - lastReportAt >= config.triggerMs) yield* report(false)
    yield* observers.publish(now)
    if (progress !== undefined) yield* progress.update(bytesRead, analysis.counters.lines, now)
  })

  // Whole or not at all: a signal during it must not leave the windows closed in memory only.
  const endOfInput = Effect.uninterruptible(Effect.gen(function*() {
    if (progress !== undefined) yield* progress.clear
    analysis.closeAll(epochs.out)
    yield* commit(true)
    yield* report(true)
    yield* observers.finish(yield* Clock.currentTimeMillis)
  }))
  const stop = Effect.gen(function*() {
    if (progress !== undefined) yield* progress.clear
    const keepWindows = !source.live
    if (!keepWindows) analysis.closeAll(epochs.out)
    yield* commit(!keepWindows)
    yield* report(true)
    if (keepWindows && analysis.openWindowCount > 0) {
      yield* Console.error(
        `loglens: stopped; ${analysis.openWindowCount} open windows stay open in the checkpoint (epoch ${epochs.epoch}), ` +
          `and the next run with the same options continues them`
      )
    }
    yield* observers.finish(yield* Clock.currentTimeMillis)
  })

  yield* Console.error(`loglens: analysing ${source.description}`)
  const summary = yield* startRunSummary(analysis.counters)
  const ticks = Stream.tick(`${Math.min(1000, config.triggerMs, config.commitIntervalMs)} millis`).pipe(Stream.as(TICK))
  yield* Stream.merge(source.batches(recovery.from), ticks, { haltStrategy: "left" }).pipe(
    Stream.runForEachArray(onEvents),
    // SIGINT / SIGTERM interrupt the pipeline between two epoch steps (they are uninterruptible).
    Effect.onInterrupt(() => stop.pipe(Effect.andThen(summary), Effect.orDie))
  )
  yield* endOfInput
  yield* summary
})
