/**
 * The alerts topic of production mode against the per-partition reference
 * (partitionReference.ts), by the README's rule for production mode ("What
 * follows"): an alert fires when the partial counts merged from the
 * partitions pass the threshold, so its `unique_ips` counts the IPs of every
 * error merged by then, which can be more than --threshold + 1 errors, and it
 * is capped at --threshold + 1.
 *
 * What was merged when it fired is a union of per-partition prefixes of the
 * cell's non-late errors holding at least threshold + 1 of them. Such a union
 * holds one of exactly threshold + 1 (shorten its prefixes), so its distinct
 * IPs are at least the smallest value the reference lists for the cell; and it
 * is part of the whole cell, so they are at most the cell's final count. Below
 * 4096 distinct IPs the count is exact.
 */
import { expect } from "vitest"
import type { PartitionRefResult } from "../../analyzer/partitionReference.ts"

/** An alert message as read from the topic. */
export interface AlertMessage {
  readonly key: string | null
  readonly value: string
  readonly offset?: number
}

/**
 * The alerts topic (read_committed) holds exactly one alert per expected cell, keyed
 * `<window_start>|<status>`, with the seed's fields and error_count = threshold + 1; `ipsProblem` says
 * what is wrong with an alert's unique_ips, if anything.
 */
export const expectAlertMessages = (
  messages: ReadonlyArray<AlertMessage>,
  expected: ReadonlyArray<{ readonly window_start: string; readonly window_end: string; readonly status: number }>,
  threshold: number,
  ipsProblem: (uniqueIps: number, key: string) => string | undefined
): void => {
  const keys = messages.map((m) => m.key ?? "<no key>")
  const duplicated = new Set(keys.filter((k, i) => keys.indexOf(k) !== i))
  // Every copy with its place in the topic and its alert_timestamp: a copy re-sent by a publisher
  // repeats the timestamp, an alert raised again by the analysis has a new one.
  const copies = messages.filter((m) => duplicated.has(m.key ?? "<no key>")).slice(0, 12)
    .map((m) => `${m.offset ?? "?"} ${m.key} ${JSON.parse(m.value).alert_timestamp}`)
  expect(keys.length - new Set(keys).size, `duplicate alerts: ${[...duplicated].slice(0, 5)}\n${copies.join("\n")}`).toBe(0)
  expect([...keys].sort()).toEqual(expected.map((a) => `${a.window_start}|${a.status}`).sort())
  const reference = new Map(expected.map((a) => [`${a.window_start}|${a.status}`, a]))
  const off: Array<string> = []
  for (const m of messages) {
    const alert = JSON.parse(m.value)
    const ref = reference.get(m.key!)!
    expect(Object.keys(alert).sort()).toEqual(
      ["alert", "alert_timestamp", "error_count", "status", "unique_ips", "window_end", "window_start"]
    )
    expect([alert.window_start, alert.window_end, alert.status, alert.error_count, alert.alert], m.key!).toEqual(
      [ref.window_start, ref.window_end, ref.status, threshold + 1, "ALERTE : Nombre d'erreurs élevé"]
    )
    expect(alert.alert_timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    const problem = ipsProblem(alert.unique_ips, m.key!)
    if (problem !== undefined) off.push(problem)
  }
  expect(off, "alert unique_ips outside what the merged errors can have had").toEqual([])
}

export const expectProductionAlerts = (
  messages: ReadonlyArray<AlertMessage>,
  truth: PartitionRefResult,
  threshold: number
): void => {
  const reference = new Map(truth.alerts.map((a) => [`${a.window_start}|${a.status}`, a]))
  const finalIps = new Map(truth.rows.map((r) => [`${r.window_start}|${r.status}`, r.unique_ips]))
  expectAlertMessages(messages, truth.alerts, threshold, (uniqueIps, key) => {
    const low = Math.min(...reference.get(key)!.uniqueIps)
    const high = Math.min(threshold + 1, finalIps.get(key)!)
    return uniqueIps >= low && uniqueIps <= high ? undefined : `${key}: ${uniqueIps} not in [${low}, ${high}]`
  })
}
