/**
 * The analyzer's whole decision logic, as plain synchronous code: validate
 * lines, keep errors, drive the watermark, fill (window, status) cells, close
 * windows and decide alerts. It has no I/O and no clock: the caller passes the
 * wall-clock time in, and collects what to write from `AnalysisOutput`.
 *
 * The rules are the design's (see the README). The watermark is the largest valid
 * event time read so far minus the allowed lateness. A window is closed once
 * its end is at or before `closedThroughMs`, which is the watermark, or more
 * after an idle or final flush; an error for a closed window is late.
 */
import * as Schema from "effect/Schema"
import { crossesThreshold, makeAlert, type Alert } from "./Alert.ts"
import { decodeUtf8, isErrorStatus, RecordDecoder, truncate, type LineFormat } from "./LogRecord.ts"
import { REJECTED_LINE_PREVIEW, type RejectedLine } from "./RejectedLine.ts"
import { windowStartOf, WindowCell, WindowCellJson, type WindowRow } from "./Window.ts"

export interface AnalysisSettings {
  readonly format: LineFormat
  readonly windowMs: number
  readonly watermarkMs: number
  readonly threshold: number
  readonly idleTimeoutMs: number
  readonly maxFutureMs: number
}

/** What one step produced, for the stores. Reused across steps: `clear()` after writing. */
export class AnalysisOutput {
  readonly errors: Array<string> = []
  readonly rejected: Array<RejectedLine> = []
  readonly closed: Array<WindowRow> = []
  readonly alerts: Array<Alert> = []

  get isEmpty(): boolean {
    return this.errors.length === 0 && this.rejected.length === 0 && this.closed.length === 0 && this.alerts.length === 0
  }

  clear(): void {
    this.errors.length = 0
    this.rejected.length = 0
    this.closed.length = 0
    this.alerts.length = 0
  }
}

export interface Counters {
  lines: number
  valid: number
  errors: number
  rejected: number
  late: number
}

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** The analysis's state besides its open cells: small, and recorded whole by every checkpoint. */
export const AnalysisProgress = Schema.Struct({
  maxEventTimeMs: Schema.NullOr(Schema.Finite),
  closedThroughMs: Schema.NullOr(Schema.Finite),
  counters: Schema.Struct({ lines: Count, valid: Count, errors: Count, rejected: Count, late: Count }),
  /** Errors read per status, late ones included (`counters.errors` by status); absent before it was kept. */
  errorsByStatus: Schema.optional(Schema.Record(Schema.String, Count))
})
export type AnalysisProgress = typeof AnalysisProgress.Type
const progressFields = AnalysisProgress.fields

/** The whole state, as the checkpoint keeps it. */
export const AnalysisSnapshot = Schema.Struct({ ...progressFields, cells: Schema.Array(WindowCellJson) })
export type AnalysisSnapshot = typeof AnalysisSnapshot.Type

/**
 * What changed since the last `takeChanges` (or `restore`): the progress whole, the open cells that
 * changed, and the windows that closed. Applied to the previous snapshot (`applyChanges`) it gives
 * the current one, so a checkpoint can write only what changed.
 */
export const AnalysisChanges = Schema.Struct({
  ...progressFields,
  cells: Schema.Array(WindowCellJson),
  closedWindows: Schema.Array(Schema.Int)
})
export type AnalysisChanges = typeof AnalysisChanges.Type

export const applyChanges = (snapshot: AnalysisSnapshot, changes: AnalysisChanges): AnalysisSnapshot => {
  const { cells: changedCells, closedWindows, ...progress } = changes
  const closed = new Set(closedWindows)
  const cells = new Map<string, WindowCellJson>()
  for (const cell of snapshot.cells) if (!closed.has(cell.start)) cells.set(`${cell.start}/${cell.status}`, cell)
  for (const cell of changedCells) cells.set(`${cell.start}/${cell.status}`, cell)
  return { ...progress, cells: Array.from(cells.values()) }
}

export class Analysis {
  readonly counters: Counters = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0 }
  /** Errors read per status (index = status), late ones included: `counters.errors` by status. */
  readonly errorsByStatus = new Float64Array(600)
  private maxEventTimeMs = -Infinity
  private closedThroughMs = -Infinity
  private lastValidAtMs = -Infinity
  // After a restore the idle clock waits for the source: a restarted Kafka consumer
  // can take half a minute to get its partitions back, and that is not idle input.
  private idleClockPaused = false
  // Set by `ingest` for its lines: the clock, the future limit, and where closed windows end.
  private nowMs = 0
  private futureLimitMs = 0
  private closedBelow = -Infinity
  // Open cells by window start, then by status.
  private readonly open = new Map<number, Map<number, WindowCell>>()
  // Cells touched since the last console report, closed or not.
  private readonly updated = new Set<WindowCell>()
  // Since the last `takeChanges`: cells touched, and the starts of the windows that closed.
  private readonly changed = new Set<WindowCell>()
  private closedWindows: Array<number> = []
  private readonly decoder: RecordDecoder

  constructor(readonly settings: AnalysisSettings) {
    this.decoder = new RecordDecoder(settings.format)
  }

  get watermarkMs(): number {
    return this.maxEventTimeMs - this.settings.watermarkMs
  }

  get openWindowCount(): number {
    return this.open.size
  }

  /** Every window ending at or before this instant is closed (-Infinity before the first close). */
  get windowsClosedThroughMs(): number {
    return this.closedThroughMs
  }

  /** The open cells, for read-only views (dashboard, alert annotations); do not modify them. */
  *openCells(): IterableIterator<WindowCell> {
    for (const byStatus of this.open.values()) yield* byStatus.values()
  }

  /**
   * Feeds whole lines read at wall-clock time `nowMs`. A string is one line without its `\n`; a
   * byte array is a run of valid UTF-8 lines separated by `\n` (see `LineBatch`).
   */
  ingest(lines: ReadonlyArray<string | Uint8Array>, nowMs: number, out: AnalysisOutput): void {
    this.nowMs = nowMs
    this.futureLimitMs = nowMs + this.settings.maxFutureMs
    this.closedBelow = Math.max(this.closedThroughMs, this.maxEventTimeMs - this.settings.watermarkMs)
    const countedBefore = this.counters.valid
    for (let i = 0; i < lines.length; i++) {
      const entry = lines[i]!
      if (typeof entry === "string") this.ingestLine(entry, out)
      else this.ingestRun(entry, out)
    }
    if (this.counters.valid > countedBefore) {
      this.lastValidAtMs = nowMs
      this.idleClockPaused = false
    }
    this.closeThrough(this.closedBelow, out)
  }

  private ingestRun(bytes: Uint8Array, out: AnalysisOutput): void {
    const decoder = this.decoder
    let start = 0
    for (;;) {
      let end = decoder.decodeAt(bytes, start)
      if (end >= 0) {
        this.counters.lines++
        this.keep(out)
      } else {
        // Not the generator's exact shape: the line as a string, through every check.
        end = bytes.indexOf(10, start)
        if (end < 0) end = bytes.length
        this.ingestLine(decodeUtf8(bytes.subarray(start, end)), out)
      }
      if (end >= bytes.length) return
      start = end + 1
    }
  }

  private ingestLine(line: string, out: AnalysisOutput): void {
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1)
    // Checked after dropping the \r, so that the blank line of CRLF input ("\r") is skipped too.
    // Blank means what `trim` removes, Unicode spaces (U+00A0, U+FEFF, ...) included: the first
    // character test only spares `trim` for lines that start with a printable ASCII character.
    const first = line.charCodeAt(0)
    if (line.length === 0 || ((first <= 32 || first >= 160) && line.trim().length === 0)) return
    this.counters.lines++
    const verdict = this.decoder.decode(line)
    if (verdict === "valid") this.keep(out, line)
    else if (verdict === "rejected") this.rejectLine(line, this.decoder.reason, out)
  }

  /** The decoder's last line is valid: count it, move the watermark, keep it if it is an error. */
  private keep(out: AnalysisOutput, line?: string): void {
    const decoder = this.decoder
    const counters = this.counters
    const eventTimeMs = decoder.eventTimeMs
    if (eventTimeMs > this.futureLimitMs) {
      const reason = "timestamp is too far in the future (more than --max-future ahead of the clock)"
      this.rejectLine(line ?? decoder.lineText(), reason, out)
      return
    }
    counters.valid++
    if (eventTimeMs > this.maxEventTimeMs) {
      this.maxEventTimeMs = eventTimeMs
      const watermarkMs = eventTimeMs - this.settings.watermarkMs
      if (watermarkMs > this.closedBelow) this.closedBelow = watermarkMs
    }
    const status = decoder.status
    if (!isErrorStatus(status)) return
    counters.errors++
    this.errorsByStatus[status] = this.errorsByStatus[status]! + 1
    out.errors.push(decoder.errorLine())
    const windowMs = this.settings.windowMs
    const startMs = windowStartOf(eventTimeMs, windowMs)
    if (startMs + windowMs <= this.closedBelow) {
      counters.late++
      return
    }
    const cell = this.cellFor(startMs, status)
    cell.add(decoder.ip(), decoder.url())
    this.updated.add(cell)
    this.changed.add(cell)
    if (crossesThreshold(cell, this.settings.threshold)) out.alerts.push(makeAlert(cell, this.nowMs))
  }

  /** Rejections found before decoding: lines too long, invalid UTF-8. */
  rejectRaw(rejected: ReadonlyArray<RejectedLine>, out: AnalysisOutput): void {
    for (const r of rejected) {
      this.counters.lines++
      this.rejectLine(r.line, r.reason, out)
    }
  }

  /** The source is connected and reading (again): after a restore, idle time counts from here. */
  sourceReady(nowMs: number): void {
    if (!this.idleClockPaused) return
    this.idleClockPaused = false
    this.lastValidAtMs = nowMs
  }

  /** Closes every open window when no valid record arrived for the idle timeout. Returns whether it did. */
  closeIfIdle(nowMs: number, out: AnalysisOutput): boolean {
    if (this.idleClockPaused || this.open.size === 0 || nowMs - this.lastValidAtMs < this.settings.idleTimeoutMs) {
      return false
    }
    this.closeAll(out)
    return true
  }

  /** End of input or shutdown: every open window closes. */
  closeAll(out: AnalysisOutput): void {
    let lastEnd = this.closedThroughMs
    for (const startMs of this.open.keys()) lastEnd = Math.max(lastEnd, startMs + this.settings.windowMs)
    this.closeThrough(lastEnd, out)
  }

  /** Current rows of the cells updated since the last call, oldest window first. */
  takeUpdatedRows(): Array<WindowRow> {
    const cells = Array.from(this.updated).sort((a, b) => a.startMs - b.startMs || a.status - b.status)
    this.updated.clear()
    return cells.map((cell) => cell.toRow())
  }

  snapshot(): AnalysisSnapshot {
    const cells: Array<WindowCellJson> = []
    for (const byStatus of this.open.values()) for (const cell of byStatus.values()) cells.push(cell.toJSON())
    return { ...this.progress(), cells }
  }

  /** The changes since the last call (see `AnalysisChanges`); costs what changed, not what is open. */
  takeChanges(): AnalysisChanges {
    const cells: Array<WindowCellJson> = []
    for (const cell of this.changed) cells.push(cell.toJSON())
    const closedWindows = this.closedWindows
    this.changed.clear()
    this.closedWindows = []
    return { ...this.progress(), cells, closedWindows }
  }

  private progress(): AnalysisProgress {
    return {
      maxEventTimeMs: Number.isFinite(this.maxEventTimeMs) ? this.maxEventTimeMs : null,
      closedThroughMs: Number.isFinite(this.closedThroughMs) ? this.closedThroughMs : null,
      counters: { ...this.counters },
      errorsByStatus: errorsByStatusJson(this.errorsByStatus)
    }
  }

  /** Restores a snapshot taken with the same settings; the idle clock waits for `sourceReady` or a valid record. */
  restore(snapshot: AnalysisSnapshot): void {
    this.maxEventTimeMs = snapshot.maxEventTimeMs ?? -Infinity
    this.closedThroughMs = snapshot.closedThroughMs ?? -Infinity
    Object.assign(this.counters, snapshot.counters)
    this.errorsByStatus.fill(0)
    for (const [status, count] of Object.entries(snapshot.errorsByStatus ?? {})) this.errorsByStatus[Number(status)] = count
    this.open.clear()
    this.changed.clear()
    this.closedWindows = []
    for (const json of snapshot.cells) {
      const cell = WindowCell.fromJSON(json)
      this.cellFor(cell.startMs, cell.status, cell)
    }
    this.idleClockPaused = true
  }

  private cellFor(startMs: number, status: number, restored?: WindowCell): WindowCell {
    let byStatus = this.open.get(startMs)
    if (byStatus === undefined) {
      byStatus = new Map()
      this.open.set(startMs, byStatus)
    }
    let cell = byStatus.get(status)
    if (cell === undefined) {
      cell = restored ?? new WindowCell(startMs, startMs + this.settings.windowMs, status)
      byStatus.set(status, cell)
    }
    return cell
  }

  private closeThrough(closedThroughMs: number, out: AnalysisOutput): void {
    if (closedThroughMs <= this.closedThroughMs) return
    this.closedThroughMs = closedThroughMs
    if (this.open.size === 0) return
    const closing: Array<number> = []
    for (const startMs of this.open.keys()) {
      if (startMs + this.settings.windowMs <= closedThroughMs) closing.push(startMs)
    }
    closing.sort((a, b) => a - b)
    for (const startMs of closing) {
      const byStatus = this.open.get(startMs)!
      this.open.delete(startMs)
      this.closedWindows.push(startMs)
      const statuses = Array.from(byStatus.keys()).sort((a, b) => a - b)
      for (const status of statuses) {
        const cell = byStatus.get(status)!
        this.changed.delete(cell)
        out.closed.push(cell.toRow())
      }
    }
  }

  private rejectLine(line: string, reason: string, out: AnalysisOutput): void {
    this.counters.rejected++
    out.rejected.push({ line: truncate(line, REJECTED_LINE_PREVIEW), reason })
  }
}

const errorsByStatusJson = (counts: Float64Array): Record<string, number> => {
  const json: Record<string, number> = {}
  for (let status = 0; status < counts.length; status++) if (counts[status]! > 0) json[status] = counts[status]!
  return json
}
