/**
 * The console report: the windows updated since the last report, like
 * Spark's update-mode console sink, under a line of running totals. Pure
 * formatting; the analyzer prints the result.
 */
import type { StatusState } from "../domain/AlertLifecycle.ts"
import type { AnalysisView, Counters } from "../domain/Analysis.ts"
import { formatInstant } from "../domain/Timestamp.ts"
import type { WindowRow } from "../domain/Window.ts"

export interface ReportInput {
  readonly nowIso: string
  readonly counters: Counters
  readonly watermarkIso: string | undefined
  readonly openWindows: number
  readonly rows: ReadonlyArray<WindowRow>
  /** Statuses firing now (see the README's alert states). */
  readonly firing?: ReadonlyArray<StatusState>
  readonly final?: boolean
}

const URL_COLUMN_WIDTH = 60

/** The report of an analysis as it stands at `nowMs`: its counters, watermark and the rows updated since the last one. */
export const reportOf = (
  analysis: AnalysisView & { readonly takeUpdatedRows: () => ReadonlyArray<WindowRow> },
  nowMs: number,
  firing: ReadonlyArray<StatusState>,
  final: boolean
): string => {
  const watermark = analysis.watermarkMs
  return formatReport({
    nowIso: formatInstant(nowMs),
    counters: analysis.counters,
    watermarkIso: Number.isFinite(watermark) ? formatInstant(watermark) : undefined,
    openWindows: analysis.openWindowCount,
    rows: analysis.takeUpdatedRows(),
    firing,
    final
  })
}

export const formatReport = (input: ReportInput): string => {
  const c = input.counters
  const header = `${input.final === true ? "Final report" : "Report"} at ${input.nowIso} — ` +
    `lines read ${n(c.lines)}, rejected ${n(c.rejected)}, errors ${n(c.errors)}, late errors ${n(c.late)}, ` +
    `open windows ${input.openWindows}, watermark ${input.watermarkIso ?? "none yet"}` +
    (c.late > 0 ? `; the late errors were ${describeLateness(c)}` : "") +
    firingLine(input.firing ?? [])
  if (input.rows.length === 0) return `${header}\n  (no window changed since the last report)`
  const table = [
    ["window", "status", "error_count", "unique_ips", "urls"],
    ...input.rows.map((row) => [
      `${row.window_start} → ${row.window_end.slice(11)}`,
      String(row.status),
      n(row.error_count),
      n(row.unique_ips),
      summarizeUrls(row.urls, URL_COLUMN_WIDTH)
    ])
  ]
  const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)))
  const numeric = [false, true, true, true, false]
  const render = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  const rule = widths.map((w) => "─".repeat(w)).join("  ")
  return [header, render(table[0]!), rule, ...table.slice(1).map(render)].join("\n")
}

/**
 * How late the late errors were, in words: the most one trailed the newest event time, and the
 * smallest whole-second --watermark that would have counted them (README, "Late data in real logs").
 */
export const describeLateness = (c: Counters): string => {
  const parts = [`up to ${(c.lateBehindMs / 1000).toFixed(1)} s behind the newest event time`]
  const byWatermark = c.late - c.lateAfterClose
  if (byWatermark > 0) {
    const suggestion = `--watermark ${Math.ceil(c.lateWatermarkMs / 1000)}s`
    parts.push(c.lateAfterClose === 0
      ? `${suggestion} would have counted them all`
      : `${suggestion} would have counted ${n(byWatermark)} of them`)
  }
  if (c.lateAfterClose > 0) {
    parts.push(`${n(c.lateAfterClose)} came after an idle or shutdown close (see --idle-timeout)`)
  }
  return parts.join("; ")
}

/** As many whole URLs as fit in `width`, then how many more there are; never cut mid-URL. */
export const summarizeUrls = (urls: ReadonlyArray<string>, width: number): string => {
  let text = ""
  for (let i = 0; i < urls.length; i++) {
    const next = text.length === 0 ? urls[i]! : `${text}, ${urls[i]}`
    const rest = urls.length - i - 1
    const suffix = rest > 0 ? `, … (+${rest} more)` : ""
    if (next.length + suffix.length > width && text.length > 0) {
      return `${text}, … (+${urls.length - i} more)`
    }
    text = next
  }
  return text
}

const firingLine = (firing: ReadonlyArray<StatusState>): string =>
  firing.length === 0 ? "" : `\n  firing: ${
    firing.map((s) =>
      `status ${s.status} since ${formatInstant(s.firingSinceMs)} (latest window over the threshold ${s.latest.window_start})`
    ).join("; ")
  }`

const n = (value: number): string => value.toLocaleString("en-US")
