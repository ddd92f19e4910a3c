/**
 * What the analyzer shows of itself while it runs: the `AnalyzerView` it
 * publishes after an epoch or a batch of input (at most a few times a
 * second, never per line), and the state of the alert deliveries. The HTTP
 * port (dashboard, `/metrics`, `/readyz`, `/api/snapshot`) only reads it.
 *
 * `layerOff` costs nothing: the analyzer builds no view when nobody reads
 * one. `layer` keeps the latest view and broadcasts every new one.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type { AlertState } from "../domain/AlertLifecycle.ts"
import type { Counters } from "../domain/Analysis.ts"

/** A (window, status) cell as the dashboard draws it. */
export interface CellView {
  readonly startMs: number
  readonly status: number
  readonly count: number
  readonly uniqueIps: number
  readonly closed: boolean
}

export interface OpenWindowView {
  readonly startMs: number
  readonly endMs: number
  readonly statuses: ReadonlyArray<{ readonly status: number; readonly count: number; readonly uniqueIps: number }>
}

export interface StatusStateView {
  readonly status: number
  readonly state: AlertState
  readonly sinceMs: number
  readonly windowStart: string
  readonly windowEnd: string
  readonly errorCount: number
  readonly uniqueIps: number
}

export interface Ranked {
  readonly value: string
  readonly count: number
}

export interface Readiness {
  readonly ready: boolean
  /** Why not, in plain words; what it is doing when ready. */
  readonly reason: string
}

/** One published picture of the analyzer. Plain JSON: it is also `/api/snapshot`. */
export interface AnalyzerView {
  readonly nowMs: number
  readonly startedAtMs: number
  readonly mode: "local" | "production"
  readonly source: string
  readonly windowMs: number
  readonly threshold: number
  readonly counters: Counters
  /** Errors read per status, late ones included (their sum is `counters.errors`). */
  readonly errorsByStatus: Readonly<Record<string, number>>
  /** Alerts fired per status. */
  readonly alertsByStatus: Readonly<Record<string, number>>
  readonly watermarkMs: number | null
  readonly openWindows: ReadonlyArray<OpenWindowView>
  /** The latest windows' cells, oldest first: the chart. */
  readonly cells: ReadonlyArray<CellView>
  /**
   * The analyzer keeps only a HyperLogLog per cell, not IPs or URL counts, so the top lists
   * rank a bounded sample: the most recent errors (`sampleSize` of them, all statuses).
   */
  readonly topUrls: ReadonlyArray<Ranked>
  readonly topIps: ReadonlyArray<Ranked>
  readonly sampleSize: number
  readonly alertStates: ReadonlyArray<StatusStateView>
  /** Lines read per second, over the last few seconds. */
  readonly linesPerSecond: number
  /** Production mode: messages not yet read, by partition (when the source can tell). */
  readonly lag: Readonly<Record<string, number>> | null
  readonly readiness: Readiness
}

/** Alert deliveries per destination (destinations are named without credentials). */
export interface DeliveryCounts {
  readonly sent: number
  readonly failed: number
}

const tally = () => {
  const deliveries = new Map<string, DeliveryCounts>()
  return {
    delivered: (destination: string, ok: boolean) => {
      const counts = deliveries.get(destination) ?? { sent: 0, failed: 0 }
      deliveries.set(destination, ok ? { ...counts, sent: counts.sent + 1 } : { ...counts, failed: counts.failed + 1 })
    },
    deliveries: (): ReadonlyMap<string, DeliveryCounts> => deliveries
  }
}

export class Telemetry extends Context.Service<Telemetry, {
  /** False when nobody reads views: the analyzer then builds none. */
  readonly enabled: boolean
  readonly publish: (view: AnalyzerView) => Effect.Effect<void>
  /** The latest view, if any was published yet. */
  readonly latest: () => AnalyzerView | undefined
  /** Every view published from now on. */
  readonly views: Stream.Stream<AnalyzerView>
  /** The dashboard's URL once the HTTP port listens (alerts link to it). */
  readonly dashboardUrl: { current: string | undefined }
  /** Destinations count their deliveries here. */
  readonly delivered: (destination: string, ok: boolean) => void
  readonly deliveries: () => ReadonlyMap<string, DeliveryCounts>
}>()("loglens/telemetry/Telemetry") {
  static readonly layer = Layer.effect(
    Telemetry,
    Effect.gen(function*() {
      const hub = yield* PubSub.sliding<AnalyzerView>(4)
      let latest: AnalyzerView | undefined
      return Telemetry.of({
        enabled: true,
        publish: (view) => {
          latest = view
          return PubSub.publish(hub, view).pipe(Effect.asVoid)
        },
        latest: () => latest,
        views: Stream.fromPubSub(hub),
        dashboardUrl: { current: undefined },
        ...tally()
      })
    })
  )

  /** No HTTP port: no views are built; deliveries are still counted (for tests and the stderr notes). */
  static readonly layerOff = Layer.sync(Telemetry, () => {
    return Telemetry.of({
      enabled: false,
      publish: () => Effect.void,
      latest: () => undefined,
      views: Stream.empty,
      dashboardUrl: { current: undefined },
      ...tally()
    })
  })

  /** Tests: every published view, in order, in `into`. */
  static readonly layerMemory = (into: Array<AnalyzerView>) =>
    Layer.sync(Telemetry, () => {
      return Telemetry.of({
        enabled: true,
        publish: (view) => Effect.sync(() => void into.push(view)),
        latest: () => into.at(-1),
        views: Stream.empty,
        dashboardUrl: { current: undefined },
        ...tally()
      })
    })
}
