/**
 * Builds the `AnalyzerView` the HTTP port shows, from the analysis and the
 * epochs' outputs. Nothing here runs per line: the analyzer hands it each
 * epoch's closed rows and a bounded slice of its latest errors, and asks for
 * a view at most every `VIEW_INTERVAL_MS`.
 */
import type { Alert } from "../domain/Alert.ts"
import type { AlertLifecycle } from "../domain/AlertLifecycle.ts"
import type { AnalysisView } from "../domain/Analysis.ts"
import type { WindowCell, WindowRow } from "../domain/Window.ts"
import type { AnalyzerView, CellView, OpenWindowView, Ranked, Readiness } from "../telemetry/Telemetry.ts"

/** The dashboard is redrawn at most this often. */
export const VIEW_INTERVAL_MS = 500
/** The top lists and the IP estimates of growing cells are worked out again at most this often. */
const SLOW_PARTS_MS = 2000
/** How many of the latest errors the top URLs and IPs are ranked from. */
export const ERROR_SAMPLE_SIZE = 1000
/** How many windows the chart keeps. */
const CHART_WINDOWS = 60
const TOP = 10
/** Throughput is measured over about this span. */
const RATE_SPAN_MS = 5000

export interface LiveViewSettings {
  readonly mode: "local" | "production"
  readonly source: string
  readonly windowMs: number
  readonly threshold: number
  readonly startedAtMs: number
}

export class LiveView {
  private readonly sample: Array<string> = []
  private sampleNext = 0
  private readonly closed = new Map<number, Map<number, CellView>>()
  private readonly alertsByStatus: Record<string, number> = {}
  private readonly rates: Array<{ atMs: number; lines: number }> = []
  private lastViewAtMs = -Infinity
  private sampleChanged = false
  private ranked: { topUrls: Array<Ranked>; topIps: Array<Ranked> } = { topUrls: [], topIps: [] }
  private rankedAtMs = -Infinity
  // A dense HyperLogLog's estimate reads 65,536 registers: kept per cell until its count changes (and a while passed).
  private estimates = new WeakMap<WindowCell, { count: number; uniqueIps: number; atMs: number }>()

  constructor(private readonly settings: LiveViewSettings) {}

  /** Keeps the last `ERROR_SAMPLE_SIZE` of `errors[from..]` (`errors/` lines); copies at most that many. */
  noteErrors(errors: ReadonlyArray<string>, from = 0): void {
    if (errors.length > from) this.sampleChanged = true
    for (let i = Math.max(from, errors.length - ERROR_SAMPLE_SIZE); i < errors.length; i++) {
      if (this.sample.length < ERROR_SAMPLE_SIZE) this.sample.push(errors[i]!)
      else this.sample[this.sampleNext] = errors[i]!
      this.sampleNext = (this.sampleNext + 1) % ERROR_SAMPLE_SIZE
    }
  }

  noteClosed(rows: ReadonlyArray<WindowRow>): void {
    for (const row of rows) {
      const startMs = Date.parse(row.window_start)
      let byStatus = this.closed.get(startMs)
      if (byStatus === undefined) this.closed.set(startMs, byStatus = new Map())
      byStatus.set(row.status, {
        startMs,
        status: row.status,
        count: row.error_count,
        uniqueIps: row.unique_ips,
        closed: true
      })
    }
    if (this.closed.size > CHART_WINDOWS) {
      const starts = Array.from(this.closed.keys()).sort((a, b) => a - b)
      for (const start of starts.slice(0, starts.length - CHART_WINDOWS)) this.closed.delete(start)
    }
  }

  noteAlerts(alerts: ReadonlyArray<Alert>): void {
    for (const alert of alerts) this.alertsByStatus[alert.status] = (this.alertsByStatus[alert.status] ?? 0) + 1
  }

  /** True when a new view is due (or `force`). */
  due(nowMs: number, force = false): boolean {
    return force || nowMs - this.lastViewAtMs >= VIEW_INTERVAL_MS
  }

  build(
    analysis: AnalysisView,
    lifecycle: AlertLifecycle,
    readiness: Readiness,
    nowMs: number,
    lag: Readonly<Record<string, number>> | null = null
  ): AnalyzerView {
    this.lastViewAtMs = nowMs
    const openWindows = new Map<number, { endMs: number; statuses: Array<OpenWindowView["statuses"][number]> }>()
    const openCells: Array<CellView> = []
    for (const cell of analysis.openCells()) {
      const uniqueIps = this.uniqueIps(cell, nowMs)
      let window = openWindows.get(cell.startMs)
      if (window === undefined) openWindows.set(cell.startMs, window = { endMs: cell.endMs, statuses: [] })
      window.statuses.push({ status: cell.status, count: cell.count, uniqueIps })
      openCells.push({ startMs: cell.startMs, status: cell.status, count: cell.count, uniqueIps, closed: false })
    }
    const cells = [...Array.from(this.closed.values()).flatMap((byStatus) => Array.from(byStatus.values())), ...openCells]
      .sort((a, b) => a.startMs - b.startMs || a.status - b.status)
    const starts = Array.from(new Set(cells.map((c) => c.startMs)))
    const firstShown = starts[Math.max(0, starts.length - CHART_WINDOWS)] ?? -Infinity

    const errorsByStatus: Record<string, number> = {}
    for (let status = 0; status < analysis.errorsByStatus.length; status++) {
      if (analysis.errorsByStatus[status]! > 0) errorsByStatus[status] = analysis.errorsByStatus[status]!
    }
    const watermarkMs = analysis.watermarkMs
    if (this.sampleChanged && nowMs - this.rankedAtMs >= SLOW_PARTS_MS) {
      this.ranked = this.rankSample()
      this.rankedAtMs = nowMs
      this.sampleChanged = false
    }
    const { topIps, topUrls } = this.ranked
    return {
      nowMs,
      startedAtMs: this.settings.startedAtMs,
      mode: this.settings.mode,
      source: this.settings.source,
      windowMs: this.settings.windowMs,
      threshold: this.settings.threshold,
      counters: { ...analysis.counters },
      errorsByStatus,
      alertsByStatus: { ...this.alertsByStatus },
      watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null,
      openWindows: Array.from(openWindows, ([startMs, w]) => ({
        startMs,
        endMs: w.endMs,
        statuses: w.statuses.sort((a, b) => a.status - b.status)
      })).sort((a, b) => a.startMs - b.startMs),
      cells: cells.filter((c) => c.startMs >= firstShown),
      topUrls,
      topIps,
      sampleSize: this.sample.length,
      alertStates: lifecycle.all().map((s) => ({
        status: s.status,
        state: s.state,
        sinceMs: s.sinceMs,
        windowStart: s.latest.window_start,
        windowEnd: s.latest.window_end,
        errorCount: s.latest.error_count,
        uniqueIps: s.latest.unique_ips
      })),
      linesPerSecond: this.rate(analysis.counters.lines, nowMs),
      lag,
      readiness
    }
  }

  private uniqueIps(cell: WindowCell, nowMs: number): number {
    const known = this.estimates.get(cell)
    if (known !== undefined && (known.count === cell.count || nowMs - known.atMs < SLOW_PARTS_MS)) return known.uniqueIps
    const uniqueIps = cell.uniqueIps()
    this.estimates.set(cell, { count: cell.count, uniqueIps, atMs: nowMs })
    return uniqueIps
  }

  private rate(lines: number, nowMs: number): number {
    this.rates.push({ atMs: nowMs, lines })
    while (this.rates.length > 2 && nowMs - this.rates[1]!.atMs >= RATE_SPAN_MS) this.rates.shift()
    const first = this.rates[0]!
    const seconds = (nowMs - first.atMs) / 1000
    return seconds > 0 ? Math.round((lines - first.lines) / seconds) : 0
  }

  private rankSample(): { topUrls: Array<Ranked>; topIps: Array<Ranked> } {
    const urls = new Map<string, number>()
    const ips = new Map<string, number>()
    for (const line of this.sample) {
      const record = JSON.parse(line) as { ip: string; url: string }
      urls.set(record.url, (urls.get(record.url) ?? 0) + 1)
      ips.set(record.ip, (ips.get(record.ip) ?? 0) + 1)
    }
    return { topUrls: top(urls), topIps: top(ips) }
  }
}

const top = (counts: Map<string, number>): Array<Ranked> =>
  Array.from(counts, ([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
    .slice(0, TOP)
