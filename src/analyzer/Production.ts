/**
 * Production mode, one process of a consumer group of analyzers: it runs
 * both stages (`ProductionStages`) and shows what this process does: the
 * input partitions it reads (lines, errors, late ones) and the windows it
 * merges and closes, with their alerts, on the console, the dashboard and
 * the alert destinations. Exactly-once lives in the stages; this file only
 * watches them.
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { Alert } from "../domain/Alert.ts"
import { type AnalysisSettings, type AnalysisView, type Counters, zeroCounters } from "../domain/Analysis.ts"
import type { WindowCell, WindowRow } from "../domain/Window.ts"
import type { ReaderState } from "../transport/kafka/PartitionReader.ts"
import type { WriterState } from "../transport/kafka/WindowWriter.ts"
import { ProductionStages } from "../transport/kafka/Stages.ts"
import { makeObservers } from "./Observers.ts"
import { reportOf } from "./Report.ts"
import { startRunSummary } from "./RunSummary.ts"

const addCounters = (into: Counters, from: Counters): void => {
  into.lines += from.lines
  into.valid += from.valid
  into.errors += from.errors
  into.rejected += from.rejected
  into.late += from.late
  into.lateAfterClose += from.lateAfterClose
  into.lateBehindMs = Math.max(into.lateBehindMs, from.lateBehindMs)
  into.lateWatermarkMs = Math.max(into.lateWatermarkMs, from.lateWatermarkMs)
}

/** This process's share of the analysis, as one `AnalysisView`; `refresh` brings it up to date. */
class ProcessView implements AnalysisView {
  readonly counters = zeroCounters()
  readonly errorsByStatus = new Float64Array(600)
  /** What readers this process no longer has had counted. */
  private readonly retired = zeroCounters()
  private readonly retiredByStatus = new Float64Array(600)
  private readonly known = new Map<number, ReaderState>()

  constructor(readonly settings: AnalysisSettings, private readonly stages: ProductionStages["Service"]) {}

  refresh(): void {
    for (const [partition, reader] of this.known) {
      if (this.stages.readers.get(partition) === reader) continue
      addCounters(this.retired, reader.stage.analysis.counters)
      const byStatus = reader.stage.analysis.errorsByStatus
      for (let s = 0; s < byStatus.length; s++) this.retiredByStatus[s] = this.retiredByStatus[s]! + byStatus[s]!
      this.known.delete(partition)
    }
    Object.assign(this.counters, this.retired)
    this.errorsByStatus.set(this.retiredByStatus)
    for (const [partition, reader] of this.stages.readers) {
      this.known.set(partition, reader)
      addCounters(this.counters, reader.stage.analysis.counters)
      const byStatus = reader.stage.analysis.errorsByStatus
      for (let s = 0; s < byStatus.length; s++) this.errorsByStatus[s] = this.errorsByStatus[s]! + byStatus[s]!
    }
    for (const writer of this.stages.writers.values()) {
      this.counters.late += writer.merge.lateAfterClose
      this.counters.lateAfterClose += writer.merge.lateAfterClose
    }
  }

  /** The lowest of the writers' figures: the whole of what this process merges is closed through it. */
  private extreme(pick: (writer: WriterState) => number): number {
    let min = Infinity
    for (const writer of this.stages.writers.values()) min = Math.min(min, pick(writer))
    return min === Infinity ? -Infinity : min
  }

  get watermarkMs(): number {
    return this.extreme((w) => w.merge.watermarkMs)
  }

  get windowsClosedThroughMs(): number {
    return this.extreme((w) => w.merge.windowsClosedThroughMs)
  }

  get openWindowCount(): number {
    let n = 0
    for (const writer of this.stages.writers.values()) n += writer.merge.openWindowCount
    return n
  }

  *openCells(): IterableIterator<WindowCell> {
    for (const writer of this.stages.writers.values()) yield* writer.merge.openCells()
  }

  takeUpdatedRows(): Array<WindowRow> {
    const rows: Array<WindowRow> = []
    for (const writer of this.stages.writers.values()) rows.push(...writer.merge.takeUpdatedRows())
    return rows.sort((a, b) => a.window_start.localeCompare(b.window_start) || a.status - b.status)
  }
}

export interface ProductionConfig {
  readonly analysis: AnalysisSettings
  readonly triggerMs: number
}

/** How often published epochs reach the console, the alert states and the dashboard. */
const WATCH_MS = 200

export const runProduction = Effect.fn("runProduction")(function*(config: ProductionConfig) {
  const stages = yield* ProductionStages
  const view = new ProcessView(config.analysis, stages)
  const startedAt = yield* Clock.currentTimeMillis
  const observers = yield* makeObservers(view, { mode: "production", source: stages.description }, startedAt)
  const published: Array<{ readonly alerts: ReadonlyArray<Alert>; readonly closed: ReadonlyArray<WindowRow> }> = []
  let lastReportAt = startedAt

  const report = Effect.fnUntraced(function*(final: boolean) {
    const now = yield* Clock.currentTimeMillis
    lastReportAt = now
    view.refresh()
    yield* Console.log(reportOf(view, now, observers.firing(), final))
  })

  const watch = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    view.refresh()
    for (const epoch of published.splice(0)) yield* observers.epochPublished(epoch, now)
    const lag = stages.lag()
    if (lag !== null) {
      observers.notePartitions(Object.entries(lag).map(([p, unread]) => ({ partition: Number(p), caughtUp: unread === 0, unread })))
    }
    observers.sourceReading()
    if (now - lastReportAt >= config.triggerMs) yield* report(false)
    yield* observers.publish(now)
  })

  yield* Console.error(`loglens: analysing ${stages.description}, with every analyzer of the group`)
  const summary = yield* startRunSummary(view.counters)
  const stop = Effect.gen(function*() {
    yield* watch
    yield* report(true)
    view.refresh()
    yield* summary
    yield* observers.finish(yield* Clock.currentTimeMillis)
  })
  yield* Effect.scoped(stages.run({
    onPublished: (epoch) => void published.push(epoch),
    onErrors: (lines) => observers.noteErrors(lines, 0)
  })).pipe(
    Effect.raceFirst(Effect.forever(Effect.andThen(watch, Effect.sleep(WATCH_MS)))),
    // SIGINT / SIGTERM: each stage commits what it read, then leaves its group; the windows stay open for the others.
    Effect.onInterrupt(() => stop.pipe(Effect.orDie))
  )
})
