/**
 * The analyzer, top to bottom:
 *
 *   LineSource ─► Analysis (validate, keep errors, watermark, windows, alerts)
 *              ─► epoch commit: ErrorStore, WindowStore, RejectedStore,
 *                 then CheckpointStore, then AlertPublisher, then LineSource.commit
 *              ─► console Report every trigger
 *
 * Work is grouped into epochs. An epoch ends every commit interval, at once
 * when an alert fires, and at the end. Its outputs are written as one part
 * file per store, then the checkpoint records the state and the source
 * position they correspond to. After a crash the analyzer drops any part
 * newer than the checkpoint, restores the state, and reads on from the
 * checkpointed position, so every output is produced exactly once.
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Analysis, AnalysisOutput, type AnalysisSettings } from "../domain/Analysis.ts"
import { formatInstant } from "../domain/Timestamp.ts"
import { AlertPublisher } from "../sinks/AlertPublisher.ts"
import { CheckpointStore, settingsDifferences, type CheckpointSettings, CHECKPOINT_VERSION } from "../sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "../sinks/Stores.ts"
import { LineSource, type LineBatch, type SourcePosition } from "../transport/LineSource.ts"
import { makeObservers } from "./Observers.ts"
import { formatReport } from "./Report.ts"

export interface AnalyzerConfig {
  readonly analysis: AnalysisSettings
  /** Shown on the dashboard. (default: local) */
  readonly mode?: "local" | "production"
  /** Console report period (`--trigger`). */
  readonly triggerMs: number
  /** Longest time between two epochs while data flows. */
  readonly commitIntervalMs: number
  /** The checkpoint's record of what shaped the results. */
  readonly checkpointSettings: Omit<CheckpointSettings, "source">
}

export class CheckpointMismatch extends Schema.TaggedError<CheckpointMismatch>()("CheckpointMismatch", {
  message: Schema.String
}) {}

/** Errors and rejections are handed to their stores in slices this big, so memory stays flat within an epoch. */
const APPEND_BATCH = 4096
const TICK = "tick" as const

export const runAnalyzer = Effect.fn("runAnalyzer")(function*(config: AnalyzerConfig) {
  const source = yield* LineSource
  const errors = yield* ErrorStore
  const windows = yield* WindowStore
  const rejected = yield* RejectedStore
  const alerts = yield* AlertPublisher
  const checkpoints = yield* CheckpointStore

  const settings: CheckpointSettings = { source: source.identity, ...config.checkpointSettings }
  const analysis = new Analysis(config.analysis)
  const out = new AnalysisOutput()
  let epoch = 0
  let position: SourcePosition = {}
  let resumeFrom: SourcePosition | undefined = undefined
  let dirty = false
  const observers = yield* makeObservers(analysis, {
    mode: config.mode ?? "local",
    source: source.description,
    live: source.live
  }, yield* Clock.currentTimeMillis)

  // -- resume from the checkpoint, if any -----------------------------------
  const saved = yield* checkpoints.load
  if (Option.isSome(saved)) {
    const checkpoint = saved.value
    const differences = settingsDifferences(checkpoint.settings, settings)
    if (differences.length > 0) {
      return yield* new CheckpointMismatch({
        message: `the checkpoint in ${checkpoints.description} was made with other settings: ${differences.join("; ")}. ` +
          `Run again with --clean to start over, or choose another --checkpoint folder (and --output folder).`
      })
    }
    if (checkpoint.finished && !source.live) {
      yield* Console.error(
        `loglens: ${source.description} was already analysed to its end (checkpoint ${checkpoints.description}); ` +
          `nothing to do. Use --clean to analyse it again.`
      )
      return
    }
    epoch = checkpoint.epoch
    position = checkpoint.position
    resumeFrom = checkpoint.position
    yield* errors.discardAfter(epoch)
    yield* windows.discardAfter(epoch)
    yield* rejected.discardAfter(epoch)
    analysis.restore(checkpoint.analysis)
    yield* alerts.recover(epoch, checkpoint.alerts, checkpoint.position)
    observers.resume(yield* Clock.currentTimeMillis)
    yield* Console.error(
      `loglens: resuming from checkpoint epoch ${epoch} (${analysis.openWindowCount} open windows, ` +
        `${analysis.counters.lines.toLocaleString("en-US")} lines already read)`
    )
  }

  // -- one epoch: outputs, then checkpoint, then alerts and source ack ------
  let lastCommitAt = yield* Clock.currentTimeMillis
  /** Hands buffered errors and rejections to their stores, where they wait, hidden, for the epoch's seal. */
  const appendBuffered = Effect.fnUntraced(function*() {
    observers.noteErrors(out.errors)
    yield* errors.append(epoch + 1, out.errors)
    yield* rejected.append(epoch + 1, out.rejected.map((r) => JSON.stringify(r)))
    out.errors.length = 0
    out.rejected.length = 0
  })
  const commitEpoch = Effect.fnUntraced(function*(finished: boolean) {
    lastCommitAt = yield* Clock.currentTimeMillis
    if (!dirty && out.isEmpty && !finished) return
    const sealing = epoch + 1
    yield* appendBuffered()
    yield* windows.append(sealing, out.closed.map((row) => JSON.stringify(row)))
    // The three stores are independent: their fsyncs overlap, which keeps alert latency low.
    yield* Effect.all([errors.seal(sealing), windows.seal(sealing), rejected.seal(sealing)], {
      concurrency: "unbounded",
      discard: true
    })
    epoch = sealing
    yield* checkpoints.save({
      version: CHECKPOINT_VERSION,
      settings,
      epoch,
      position,
      analysis: analysis.snapshot(),
      alerts: [...out.alerts],
      finished
    })
    yield* alerts.publish(epoch, out.alerts, position)
    yield* observers.epochPublished(out, lastCommitAt)
    yield* source.commit(position, epoch)
    out.clear()
    dirty = false
  })

  // -- the console report ---------------------------------------------------
  let lastReportAt = lastCommitAt
  const report = Effect.fnUntraced(function*(final: boolean) {
    const now = yield* Clock.currentTimeMillis
    lastReportAt = now
    const watermark = analysis.watermarkMs
    yield* Console.log(formatReport({
      nowIso: formatInstant(now),
      counters: analysis.counters,
      watermarkIso: Number.isFinite(watermark) ? formatInstant(watermark) : undefined,
      openWindows: analysis.openWindowCount,
      rows: analysis.takeUpdatedRows(),
      firing: observers.firing(),
      final
    }))
  })

  // -- the pipeline ---------------------------------------------------------
  const onEvents = Effect.fnUntraced(function*(events: ReadonlyArray<LineBatch | typeof TICK>) {
    const now = yield* Clock.currentTimeMillis
    for (const event of events) {
      if (event === TICK) continue
      analysis.sourceReady(now)
      observers.sourceReading()
      if (event.lines.length === 0 && event.rejected.length === 0) continue
      if (event.rejected.length > 0) analysis.rejectRaw(event.rejected, out)
      analysis.ingest(event.lines, now, out)
      position = event.position
      dirty = true
    }
    if (source.live) analysis.closeIfIdle(now, out)
    if (out.alerts.length > 0 || now - lastCommitAt >= config.commitIntervalMs) {
      yield* commitEpoch(false)
    } else if (out.errors.length + out.rejected.length >= APPEND_BATCH) {
      yield* appendBuffered()
    }
    if (now - lastReportAt >= config.triggerMs) yield* report(false)
    yield* observers.publish(now)
  })

  const ticks = Stream.tick(`${Math.min(1000, config.triggerMs, config.commitIntervalMs)} millis`).pipe(Stream.as(TICK))
  const finish = Effect.gen(function*() {
    analysis.closeAll(out)
    yield* commitEpoch(true)
    yield* report(true)
    yield* observers.finish(yield* Clock.currentTimeMillis)
  })

  yield* Console.error(`loglens: analysing ${source.description}`)
  const startedAt = yield* Clock.currentTimeMillis
  const linesBefore = analysis.counters.lines
  // One closing line on stderr: throughput and peak memory, for users and for `npm run bench`.
  const summary = Effect.suspend(() =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const lines = analysis.counters.lines - linesBefore
      const seconds = Math.max(now - startedAt, 1) / 1000
      const usage = process.resourceUsage()
      const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6
      return Console.error(
        `loglens: read ${lines.toLocaleString("en-US")} lines in ${seconds.toFixed(3)} s ` +
          `(${Math.round(lines / seconds).toLocaleString("en-US")} lines/s), ` +
          `CPU ${cpuSeconds.toFixed(3)} s, peak RSS ${Math.round(usage.maxRSS / 1024)} MB`
      )
    })
  )
  yield* Stream.merge(source.batches(resumeFrom), ticks, { haltStrategy: "left" }).pipe(
    Stream.runForEachArray(onEvents),
    // SIGINT / SIGTERM interrupt the pipeline; the windows still close and everything is flushed.
    Effect.onInterrupt(() => finish.pipe(Effect.andThen(summary), Effect.orDie))
  )
  yield* finish
  yield* summary
})
