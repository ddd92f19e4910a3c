/**
 * The alert decision and the alert record, in the seed job's JSON format.
 * A cell alerts the first time its count exceeds the threshold, and never again.
 */
import * as Schema from "effect/Schema"
import { formatInstant } from "./Timestamp.ts"
import type { WindowCell } from "./Window.ts"

export const ALERT_MESSAGE = "ALERTE : Nombre d'erreurs élevé"

export const Alert = Schema.Struct({
  window_start: Schema.String,
  window_end: Schema.String,
  status: Schema.Int,
  error_count: Schema.Int,
  unique_ips: Schema.Int,
  alert: Schema.String,
  alert_timestamp: Schema.String
})
export type Alert = typeof Alert.Type

/** True exactly once per cell: on the error that takes the count past the threshold. */
export const crossesThreshold = (cell: WindowCell, threshold: number): boolean => {
  if (cell.alerted || cell.count <= threshold) return false
  cell.alerted = true
  return true
}

/**
 * `count`: the count it fired at. A cell fed per line fires at its threshold + 1; one fed merged
 * partial counts (production mode) may pass it by more in one step, and says threshold + 1 all the same.
 */
export const makeAlert = (cell: WindowCell, nowMs: number, count = cell.count): Alert => ({
  window_start: formatInstant(cell.startMs),
  window_end: formatInstant(cell.endMs),
  status: cell.status,
  error_count: count,
  unique_ips: Math.min(cell.uniqueIps(), count),
  alert: ALERT_MESSAGE,
  alert_timestamp: formatInstant(nowMs)
})

/** Kafka key of an alert: one key per (window, status), so compaction and dedupe agree. */
export const alertKey = (alert: Alert): string => `${alert.window_start}|${alert.status}`
