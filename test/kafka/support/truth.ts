/**
 * Ground truth for the CLI integration tests, from the independent reference
 * model (test/analyzer/reference.ts), and comparisons of what the analyzer
 * wrote with it.
 */
import { expect } from "vitest"
import { analysePartitionsReference, type PartitionRefResult } from "../../analyzer/partitionReference.ts"
import { analyseReference, type RefResult, type RefRow, type RefSettings } from "../../analyzer/reference.ts"

export interface TruthSettings {
  readonly windowMs?: number
  readonly watermarkMs?: number
  readonly threshold?: number
}

/** The reference's settings: the CLI's defaults unless given. */
const refSettings = (s: TruthSettings): RefSettings => ({
  format: "json",
  windowMs: s.windowMs ?? 30_000,
  watermarkMs: s.watermarkMs ?? 10_000,
  threshold: s.threshold ?? 100,
  maxFutureMs: 3_600_000,
  nowMs: Date.now()
})

/** The reference model's results for `lines`, in this order, with the CLI's defaults unless given. */
export const truthOf = (lines: ReadonlyArray<string>, s: TruthSettings = {}): RefResult =>
  analyseReference(Buffer.from(lines.join("\n") + "\n", "utf8"), refSettings(s))

/** Canonical text of an error record, whatever the key order on disk. */
export const errorKey = (e: { timestamp: string; ip: string; method: string; url: string; status: number }): string =>
  JSON.stringify([e.timestamp, e.ip, e.method, e.url, e.status])

const counts = (keys: ReadonlyArray<string>): Map<string, number> => {
  const m = new Map<string, number>()
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1)
  return m
}

/**
 * `actual` and `expected` hold the same records the same number of times.
 * Reports the first few missing and extra ones rather than a huge diff.
 */
export const expectSameMultiset = (label: string, actual: ReadonlyArray<string>, expected: ReadonlyArray<string>): void => {
  const a = counts(actual)
  const e = counts(expected)
  const missing: Array<string> = []
  const extra: Array<string> = []
  for (const [k, n] of e) if ((a.get(k) ?? 0) < n) missing.push(`${k} ×${n - (a.get(k) ?? 0)}`)
  for (const [k, n] of a) if ((e.get(k) ?? 0) < n) extra.push(`${k} ×${n - (e.get(k) ?? 0)}`)
  expect(
    { missing: missing.length, extra: extra.length, firstMissing: missing.slice(0, 3), firstExtra: extra.slice(0, 3) },
    `${label}: ${actual.length} actual vs ${expected.length} expected`
  ).toEqual({ missing: 0, extra: 0, firstMissing: [], firstExtra: [] })
}

/** Within 2 % of the exact distinct count (the HyperLogLog budget). */
export const closeCount = (estimate: number, exact: number): boolean => Math.abs(estimate - exact) <= 0.02 * exact

const cellOf = (r: { window_start: string; status: number }) => `${r.window_start}|${r.status}`

/**
 * `windows/` rows equal the reference's: one row per (window, status), same
 * window_end, error_count and URL set; unique_ips within 2 %.
 */
export const expectWindowRows = (actual: ReadonlyArray<any>, expected: ReadonlyArray<RefRow>): void => {
  const cells = actual.map(cellOf)
  expect(cells.length - new Set(cells).size, "duplicate (window, status) rows in windows/").toBe(0)
  const strip = (r: any) => ({
    cell: cellOf(r),
    window_end: r.window_end,
    error_count: r.error_count,
    urls: [...r.urls].sort()
  })
  const byCell = (a: { cell: string }, b: { cell: string }) => (a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0)
  expect(actual.map(strip).sort(byCell)).toEqual(expected.map(strip).sort(byCell))
  const exact = new Map(expected.map((r) => [cellOf(r), r.unique_ips]))
  const off = actual.filter((r) => !closeCount(r.unique_ips, exact.get(cellOf(r))!))
  expect(off.map((r) => `${cellOf(r)}: ${r.unique_ips} vs exact ${exact.get(cellOf(r))}`), "unique_ips off by more than 2 %")
    .toEqual([])
}

/** "lines read 12,345," as the console report prints it. */
export const linesReadPattern = (n: number): RegExp => new RegExp(`lines read ${n.toLocaleString("en-US")},`)

/**
 * A report after `n` lines with no window open: in production mode a stop keeps the open windows,
 * so a test that wants every final row waits for this (the idle rule) before it stops the analyzer.
 */
export const allClosedPattern = (n: number): RegExp => new RegExp(`${linesReadPattern(n).source}[^\n]*open windows 0,`)

/** The last "lines read N" the analyzer printed, or -1. */
export const lastLinesRead = (output: string): number => {
  const all = [...output.matchAll(/lines read ([\d,]+),/g)]
  return all.length === 0 ? -1 : Number(all[all.length - 1]![1]!.replaceAll(",", ""))
}

/** The per-partition reference's results for `partitions[p]` = partition p's lines in offset order. */
export const partitionTruthOf = (partitions: ReadonlyArray<ReadonlyArray<string>>, s: TruthSettings = {}): PartitionRefResult =>
  analysePartitionsReference(partitions, refSettings(s))

