/**
 * The analyzer's whole decision logic, as plain synchronous code: validate
 * lines, keep errors, drive the watermark, fill (window, status) cells, close
 * windows and decide alerts. It has no I/O and no clock: the caller passes the
 * wall-clock time in, and collects what to write from `AnalysisOutput`.
 *
 * The rules are the README's ("Partition watermarks"). Each input partition p
 * has its own watermark wm_p: the largest valid event time read from p minus
 * the allowed lateness. An error read from p is late when its window ends at
 * or before wm_p, or before `closedThroughMs`. Windows close through the
 * minimum wm_p over the partitions this process reads that are not idle
 * (caught up and quiet for the idle timeout); `closedThroughMs` only grows,
 * and an idle or final flush moves it past every open window. The caller
 * says which partition a chunk comes from, so the per-line path only ever
 * sees one partition's watermark.
 */
import * as Schema from "effect/Schema"
import { crossesThreshold, makeAlert, type Alert } from "./Alert.ts"
import { AutoDecoder } from "./formats/Auto.ts"
import { NO_MAPPING, type FieldMapping } from "./formats/FieldMapping.ts"
import { makeDecoder, type FormatName } from "./formats/Formats.ts"
import type { LineDecoder } from "./formats/LineDecoder.ts"
import { decodeUtf8, isErrorStatus, truncate } from "./LogRecord.ts"
import { REJECTED_LINE_PREVIEW, type RejectedLine } from "./RejectedLine.ts"
import { windowStartOf, WindowCell, WindowCellJson, type WindowRow } from "./Window.ts"

export interface AnalysisSettings {
  readonly format: FormatName
  /** `--field` mappings, for the formats that take them. */
  readonly fields?: FieldMapping
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
  /** The most a late error trailed the newest event time of its partition read before it (README, "Late data in real logs"). */
  lateBehindMs: number
  /** The smallest --watermark that would have counted every error the watermark made late; 0 if none. */
  lateWatermarkMs: number
  /** Late errors whose window an idle timeout or a stop had closed, not the watermark: apart from lateWatermarkMs. */
  lateAfterClose: number
}

/** What the console, the dashboard and the alert states read of an analysis (production mode: of both stages). */
export interface AnalysisView {
  readonly settings: { readonly windowMs: number; readonly threshold: number }
  readonly counters: Counters
  /** Errors read per status (index = status), late ones included. */
  readonly errorsByStatus: Float64Array
  readonly watermarkMs: number
  readonly windowsClosedThroughMs: number
  readonly openWindowCount: number
  openCells(): IterableIterator<WindowCell>
}

/** Counters of an analysis that has read nothing yet. */
export const zeroCounters = (): Counters => ({
  lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0
})

/** What the source knows of one of its partitions. */
export interface PartitionProgress {
  readonly partition: number
  /** Nothing unread in it: its position has reached its end offset. */
  readonly caughtUp: boolean
  /** Records known to be unread in it (its end offset minus its position), when the source can tell: the consumer lag. */
  readonly unread?: number
}

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** One input partition's watermark: its largest valid event time, null before its first valid record. */
export const PartitionSnapshot = Schema.Struct({ partition: Count, maxEventTimeMs: Schema.NullOr(Schema.Finite) })
export type PartitionSnapshot = typeof PartitionSnapshot.Type

/** The analysis's state besides its open cells: small, and recorded whole by every checkpoint. */
export const AnalysisProgress = Schema.Struct({
  partitions: Schema.Array(PartitionSnapshot),
  closedThroughMs: Schema.NullOr(Schema.Finite),
  counters: Schema.Struct({
    lines: Count, valid: Count, errors: Count, rejected: Count, late: Count,
    lateBehindMs: Count, lateWatermarkMs: Count, lateAfterClose: Count
  }),
  /** The format `--format auto` chose, once it has. */
  detectedFormat: Schema.optional(Schema.String),
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
  const { cells, closedWindows, ...progress } = changes
  return { ...progress, cells: applyCellChanges(snapshot.cells, cells, closedWindows) }
}

/** The open cells after the windows `closedWindows` (their starts) closed and the cells `changed` changed. */
export const applyCellChanges = (
  open: ReadonlyArray<WindowCellJson>,
  changed: ReadonlyArray<WindowCellJson>,
  closedWindows: ReadonlyArray<number>
): Array<WindowCellJson> => {
  const closed = new Set(closedWindows)
  const cells = new Map<string, WindowCellJson>()
  for (const cell of open) if (!closed.has(cell.start)) cells.set(`${cell.start}/${cell.status}`, cell)
  for (const cell of changed) cells.set(`${cell.start}/${cell.status}`, cell)
  return Array.from(cells.values())
}

const finiteOrNull = (ms: number): number | null => (Number.isFinite(ms) ? ms : null)

/** One input partition's watermark and idle state. */
class PartitionState {
  maxEventTimeMs = -Infinity
  lastValidAtMs = -Infinity
  /** Local sources never say otherwise: their one partition has nothing unread whenever it waits. */
  caughtUp = true
  /** Read by this process now; partitions read before and no longer assigned keep their state. */
  owned = true
  constructor(readonly partition: number) {}
}

export class Analysis implements AnalysisView {
  readonly counters: Counters = zeroCounters()
  // By partition id; local mode has only partition 0.
  private readonly partitions = new Map<number, PartitionState>([[0, new PartitionState(0)]])
  /** Errors read per status (index = status), late ones included: `counters.errors` by status. */
  readonly errorsByStatus = new Float64Array(600)
  private closedThroughMs = -Infinity
  // The minimum watermark windows last closed through (for the report).
  private closingWatermarkMs = -Infinity
  // After a restore the idle clock waits for the source: a restarted Kafka consumer
  // can take half a minute to get its partitions back, and that is not idle input.
  private idleClockPaused = false
  // Set by `ingest` for its lines: the chunk's partition and its largest event time, the clock,
  // the future limit, and where closed windows end for this partition.
  private maxEventTimeMs = -Infinity
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
  private readonly decoder: LineDecoder

  /**
   * `newCell`: how a (window, status) cell is made; production mode's first stage makes cells that
   * also record what changed, for the partial aggregates it publishes (`Partials.ts`).
   */
  constructor(
    readonly settings: AnalysisSettings,
    private readonly newCell: (startMs: number, endMs: number, status: number) => WindowCell = (s, e, status) =>
      new WindowCell(s, e, status)
  ) {
    this.decoder = makeDecoder(settings.format, { fields: settings.fields ?? NO_MAPPING })
  }

  /** The watermark windows close through: the minimum over the partitions that hold them back. */
  get watermarkMs(): number {
    return this.closingWatermarkMs
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
   * Feeds whole lines of input partition `partition` read at wall-clock time `nowMs`; `caughtUp`
   * says whether the partition has nothing unread after them. A string is one line without its
   * `\n`; a byte array is a run of valid UTF-8 lines separated by `\n` (see `LineBatch`).
   */
  ingest(lines: ReadonlyArray<string | Uint8Array>, nowMs: number, out: AnalysisOutput, partition = 0, caughtUp = true): void {
    const state = this.partitionState(partition)
    this.nowMs = nowMs
    this.futureLimitMs = nowMs + this.settings.maxFutureMs
    this.maxEventTimeMs = state.maxEventTimeMs
    this.closedBelow = Math.max(this.closedThroughMs, state.maxEventTimeMs - this.settings.watermarkMs)
    const countedBefore = this.counters.valid
    for (let i = 0; i < lines.length; i++) {
      const entry = lines[i]!
      if (typeof entry === "string") this.ingestLine(entry, out)
      else this.ingestRun(entry, out)
    }
    state.maxEventTimeMs = this.maxEventTimeMs
    state.caughtUp = caughtUp
    if (this.counters.valid > countedBefore) {
      if (this.idleClockPaused) this.resumeIdleClock(nowMs)
      state.lastValidAtMs = nowMs
    }
    this.closeThroughWatermarks(nowMs, state, out)
  }

  /**
   * The partitions this process reads now, with whether each has nothing unread. Partitions left
   * out stop holding windows back (another process, or a later assignment, reads them).
   */
  setPartitions(progress: ReadonlyArray<PartitionProgress>): void {
    for (const state of this.partitions.values()) state.owned = false
    for (const { partition, caughtUp } of progress) {
      const state = this.partitionState(partition)
      state.owned = true
      state.caughtUp = caughtUp
    }
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
      this.countLate(eventTimeMs, startMs + windowMs)
      return
    }
    const cell = this.cellFor(startMs, status)
    cell.add(decoder.ip(), decoder.url())
    this.updated.add(cell)
    this.changed.add(cell)
    if (crossesThreshold(cell, this.settings.threshold)) out.alerts.push(makeAlert(cell, this.nowMs))
  }

  /** A late error: counted, with how late it was. */
  private countLate(eventTimeMs: number, windowEndMs: number): void {
    const counters = this.counters
    counters.late++
    counters.lateBehindMs = Math.max(counters.lateBehindMs, this.maxEventTimeMs - eventTimeMs)
    // A watermark W keeps the window open while its end > newest - W: W = newest - end + 1 ms would have.
    const neededMs = this.maxEventTimeMs - windowEndMs + 1
    if (neededMs > this.settings.watermarkMs) {
      counters.lateWatermarkMs = Math.max(counters.lateWatermarkMs, neededMs)
    } else {
      counters.lateAfterClose++
    }
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
    if (this.idleClockPaused) this.resumeIdleClock(nowMs)
  }

  private resumeIdleClock(nowMs: number): void {
    this.idleClockPaused = false
    for (const state of this.partitions.values()) {
      if (state.maxEventTimeMs > -Infinity) state.lastValidAtMs = Math.max(state.lastValidAtMs, nowMs)
    }
  }

  /**
   * Closes the windows that only idle partitions held back, and every open window when every
   * partition this process reads is idle. Returns whether it closed every open window.
   */
  closeIfIdle(nowMs: number, out: AnalysisOutput): boolean {
    if (this.closeThroughWatermarks(nowMs, undefined, out) || this.open.size === 0) return false
    this.closeAll(out)
    return true
  }

  /**
   * Closes through the minimum watermark of the owned partitions that are not idle (`reading`,
   * which just delivered lines, counts as not idle). Returns false when every owned partition is
   * idle, and then closes nothing; with no owned partition at all (a rebalance), it returns true.
   */
  private closeThroughWatermarks(nowMs: number, reading: PartitionState | undefined, out: AnalysisOutput): boolean {
    const lateness = this.settings.watermarkMs
    const idleTimeoutMs = this.settings.idleTimeoutMs
    let minMs = Infinity
    let owned = false
    for (const state of this.partitions.values()) {
      if (!state.owned) continue
      owned = true
      // Until the source is ready after a restore, no partition is idle: what is unread is not known yet.
      const idle = state !== reading && state.caughtUp && !this.idleClockPaused &&
        (state.maxEventTimeMs === -Infinity || nowMs - state.lastValidAtMs >= idleTimeoutMs)
      if (!idle && state.maxEventTimeMs - lateness < minMs) minMs = state.maxEventTimeMs - lateness
    }
    if (minMs === Infinity) return !owned
    this.closingWatermarkMs = minMs
    this.closeThrough(minMs, out)
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

  /** Partition `partition`'s newest valid event time; null before its first valid record. */
  maxEventTimeOf(partition: number): number | null {
    return finiteOrNull(this.partitions.get(partition)?.maxEventTimeMs ?? -Infinity)
  }

  /** Drops what `takeChanges` and `takeUpdatedRows` would return, for an owner that needs neither. */
  forgetChanges(): void {
    this.changed.clear()
    this.updated.clear()
    this.closedWindows = []
  }

  private progress(): AnalysisProgress {
    const partitions: Array<PartitionSnapshot> = []
    for (const state of this.partitions.values()) {
      partitions.push({ partition: state.partition, maxEventTimeMs: finiteOrNull(state.maxEventTimeMs) })
    }
    partitions.sort((a, b) => a.partition - b.partition)
    return {
      partitions,
      closedThroughMs: finiteOrNull(this.closedThroughMs),
      counters: { ...this.counters },
      errorsByStatus: errorsByStatusJson(this.errorsByStatus),
      ...(this.detectedFormat === undefined ? {} : { detectedFormat: this.detectedFormat })
    }
  }

  /** The format `--format auto` chose, once it has. */
  get detectedFormat(): string | undefined {
    return this.decoder instanceof AutoDecoder ? this.decoder.chosen : undefined
  }

  /** Restores a snapshot taken with the same settings; the idle clock waits for `sourceReady` or a valid record. */
  restore(snapshot: AnalysisSnapshot): void {
    this.partitions.clear()
    let minMs = Infinity
    for (const saved of snapshot.partitions) {
      const state = this.partitionState(saved.partition)
      state.maxEventTimeMs = saved.maxEventTimeMs ?? -Infinity
      minMs = Math.min(minMs, state.maxEventTimeMs - this.settings.watermarkMs)
    }
    if (this.partitions.size === 0) this.partitionState(0)
    this.closingWatermarkMs = minMs === Infinity ? -Infinity : minMs
    this.closedThroughMs = snapshot.closedThroughMs ?? -Infinity
    Object.assign(this.counters, snapshot.counters)
    if (snapshot.detectedFormat !== undefined && this.decoder instanceof AutoDecoder) {
      this.decoder.restoreChoice(snapshot.detectedFormat)
    }
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

  private partitionState(partition: number): PartitionState {
    let state = this.partitions.get(partition)
    if (state === undefined) {
      state = new PartitionState(partition)
      this.partitions.set(partition, state)
    }
    return state
  }

  private cellFor(startMs: number, status: number, restored?: WindowCell): WindowCell {
    let byStatus = this.open.get(startMs)
    if (byStatus === undefined) {
      byStatus = new Map()
      this.open.set(startMs, byStatus)
    }
    let cell = byStatus.get(status)
    if (cell === undefined) {
      cell = restored ?? this.newCell(startMs, startMs + this.settings.windowMs, status)
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
