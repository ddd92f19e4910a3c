/**
 * Everything that watches the analysis without shaping its results: the
 * console's alert lines, each status's alert state (firing / resolved) and
 * its destinations, and the live view for the HTTP port. The analyzer calls
 * it once per epoch and once per batch of input, never per line. Telemetry
 * and AlertDestinations are optional services: without them this costs a
 * few comparisons per epoch.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { makeAlert, type Alert } from "../domain/Alert.ts"
import { AlertLifecycle, type StatusState } from "../domain/AlertLifecycle.ts"
import type { AnalysisView, PartitionProgress } from "../domain/Analysis.ts"
import { formatInstant } from "../domain/Timestamp.ts"
import type { WindowRow } from "../domain/Window.ts"
import { AlertDestinations, type StateChange } from "../destinations/AlertDestinations.ts"
import { Telemetry } from "../telemetry/Telemetry.ts"
import { LiveView } from "./LiveView.ts"

export interface ObserverSettings {
  readonly mode: "local" | "production"
  readonly source: string
}

/** What an epoch published: its alerts and the rows of the windows it closed. */
export interface PublishedEpoch {
  readonly alerts: ReadonlyArray<Alert>
  readonly closed: ReadonlyArray<WindowRow>
}

export const makeObservers = Effect.fnUntraced(function*(analysis: AnalysisView, settings: ObserverSettings, startedAtMs: number) {
  const telemetry = Option.filter(yield* Effect.serviceOption(Telemetry), (t) => t.enabled)
  const destinations = yield* Effect.serviceOption(AlertDestinations)
  const lifecycle = new AlertLifecycle(analysis.settings.windowMs)
  const view = Option.isSome(telemetry)
    ? new LiveView({
      mode: settings.mode,
      source: settings.source,
      windowMs: analysis.settings.windowMs,
      threshold: analysis.settings.threshold,
      startedAtMs
    })
    : undefined
  let reading = false
  let finished = false
  // Production mode: records unread per partition, as the source last told (the dashboard's and /metrics' lag).
  let lag: Record<string, number> | null = null

  /** The URLs of a state's latest window, open or closed in this epoch (for destinations' annotations). */
  const urlsOf = (state: StatusState, out: PublishedEpoch): ReadonlyArray<string> => {
    for (const cell of analysis.openCells()) {
      if (cell.status === state.status && cell.startMs === state.latestWindowStartMs) return cell.toRow().urls
    }
    const closed = out.closed.find((row) => row.status === state.status && row.window_start === state.latest.window_start)
    return closed?.urls ?? []
  }

  const publish = (nowMs: number, force: boolean) =>
    Effect.suspend(() => {
      if (Option.isNone(telemetry) || view === undefined || !view.due(nowMs, force)) return Effect.void
      const readiness = finished
        ? { ready: false, reason: "the analysis has finished; the process is stopping" }
        : reading
        ? { ready: true, reason: `reading ${settings.source}` }
        : { ready: false, reason: `waiting for ${settings.source}` }
      return telemetry.value.publish(view.build(analysis, lifecycle, readiness, nowMs, lag))
    })

  return {
    /**
     * After a restart: windows still open that already alerted keep their statuses firing, and
     * destinations are told again (Alertmanager would otherwise let them expire; receivers de-duplicate).
     */
    resume: (nowMs: number) =>
      Effect.suspend(() => {
        const alerted: Array<Alert> = []
        for (const cell of analysis.openCells()) if (cell.alerted) alerted.push(makeAlert(cell, nowMs))
        const firing = lifecycle.resume(alerted, nowMs)
        if (Option.isNone(destinations) || firing.length === 0) return Effect.void
        return destinations.value.notify(firing.map((state) => ({ state, urls: urlsOf(state, { alerts: [], closed: [] }) })))
      }),
    /** The source delivered its first batch (or says it is connected). */
    sourceReading: () => {
      reading = true
    },
    /** The source's partitions and their unread records (Kafka), for the lag. */
    notePartitions: (partitions: ReadonlyArray<PartitionProgress>) => {
      const next: Record<string, number> = {}
      for (const p of partitions) if (p.unread !== undefined) next[String(p.partition)] = p.unread
      lag = next
    },
    /** The errors from index `from` on are new: the latest of them feed the top URLs and IPs. */
    noteErrors: (errors: ReadonlyArray<string>, from: number) => view?.noteErrors(errors, from),
    /** An epoch is durable and its alerts are published: tell the console, the states and their destinations. */
    epochPublished: Effect.fnUntraced(function*(out: PublishedEpoch, nowMs: number) {
      for (const alert of out.alerts) yield* Console.log(formatAlert(alert))
      const changes = lifecycle.step(out.alerts, analysis.windowsClosedThroughMs, nowMs)
      for (const change of changes) if (change.state === "resolved") yield* Console.log(formatResolved(change))
      view?.noteClosed(out.closed)
      view?.noteAlerts(out.alerts)
      if (Option.isSome(destinations) && changes.length > 0) {
        yield* destinations.value.notify(changes.map((state): StateChange => ({ state, urls: urlsOf(state, out) })))
      }
    }),
    /** At most every few hundred ms: a new view for the HTTP port. */
    publish: (nowMs: number) => publish(nowMs, false),
    finish: (nowMs: number) => {
      finished = true
      return publish(nowMs, true)
    },
    /** Statuses firing now, for the console report. */
    firing: () => lifecycle.firing()
  }
})

export const formatAlert = (alert: Alert): string =>
  `${alert.alert} — window ${alert.window_start} → ${alert.window_end}, status ${alert.status}: ` +
  `${alert.error_count} errors from ~${alert.unique_ips} IPs`

const formatResolved = (state: StatusState): string =>
  `Resolved: status ${state.status} — a window after ${state.latest.window_start} → ${state.latest.window_end} ` +
  `closed at or under the threshold (firing since ${formatInstant(state.firingSinceMs)})`
