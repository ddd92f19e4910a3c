/**
 * Production mode's two stages, as plain synchronous code (README,
 * "Production mode: a consumer group of analyzers").
 *
 * Stage 1, `PartitionStage`, runs per input partition p: it decodes, rejects,
 * keeps errors and decides lateness with wm_p alone (an `Analysis` that reads
 * only p), and turns what p added to each (window, status) cell into a
 * `CellPartial`: the count it added, the IP hashes and URLs p had not sent
 * before. After each epoch it also says where p stands (`PartitionReport`).
 *
 * Stage 2, `WindowMerge`, runs per internal partition: it merges partials
 * (counts add, hashes go into one HyperLogLog, URL sets unite), fires an alert
 * when a merged count passes the threshold, and closes windows when the
 * minimum watermark over the input partitions that are not idle reaches their
 * end. The merged HyperLogLog is the one a single reader of every partition
 * would have built: same hashes, same registers.
 *
 * Every partial of p reaches stage 2 before the report that moves wm_p past
 * it (same producer, same transaction, same internal partition), so windows
 * close on the same counts however the partitions interleave and however many
 * processes share them.
 */
import * as Schema from "effect/Schema"
import { crossesThreshold, makeAlert, type Alert } from "./Alert.ts"
import { Analysis, type AnalysisOutput, type AnalysisSettings, zeroCounters } from "./Analysis.ts"
import { hashString } from "./HyperLogLog.ts"
import { WindowCell, type WindowRow } from "./Window.ts"

// -- the internal topic's messages -----------------------------------------------------------

/** What input partition `partition` added to one (window, status) cell since its last partial. */
export interface CellPartial {
  readonly partition: number
  readonly startMs: number
  readonly status: number
  readonly count: number
  readonly hashes: ReadonlyArray<number>
  readonly urls: ReadonlyArray<string>
}

/** Where input partition `partition` stands after an epoch. */
export interface PartitionReport {
  readonly partition: number
  /** Its newest valid event time; null before its first valid record. */
  readonly maxEventTimeMs: number | null
  /** The next offset stage 1 reads of it. */
  readonly next: number
  /** Caught up and quiet for the idle timeout, as its reader saw it. */
  readonly idle: boolean
}

export type InternalMessage =
  | { readonly _tag: "cell"; readonly cell: CellPartial }
  | { readonly _tag: "report"; readonly report: PartitionReport }

const Int = Schema.Int
const CellJson = Schema.Struct({
  c: Schema.Tuple([Int, Int, Int, Int]),
  h: Schema.String,
  u: Schema.Array(Schema.String)
})
const ReportJson = Schema.Struct({ r: Schema.Tuple([Int, Schema.NullOr(Schema.Finite), Int, Schema.Literals([0, 1])]) })
const InternalJson = Schema.fromJsonString(Schema.Union([CellJson, ReportJson]))
const decodeInternal = Schema.decodeUnknownResult(InternalJson)

/** IP hashes as base64 of little-endian 32-bit words: a third of their JSON size. */
const packHashes = (hashes: ReadonlyArray<number>): string => {
  const bytes = Buffer.allocUnsafe(hashes.length * 4)
  for (let i = 0; i < hashes.length; i++) bytes.writeUInt32LE(hashes[i]! >>> 0, i * 4)
  return bytes.toString("base64")
}

const unpackHashes = (text: string): Array<number> | undefined => {
  const bytes = Buffer.from(text, "base64")
  if (bytes.length % 4 !== 0) return undefined
  const out = new Array<number>(bytes.length / 4)
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(i * 4)
  return out
}

export const encodeCell = (cell: CellPartial): string =>
  JSON.stringify({ c: [cell.partition, cell.startMs, cell.status, cell.count], h: packHashes(cell.hashes), u: cell.urls })

export const encodeReport = (report: PartitionReport): string =>
  JSON.stringify({ r: [report.partition, report.maxEventTimeMs, report.next, report.idle ? 1 : 0] })

/** A message of the internal topic, or undefined when loglens did not write it. */
export const decodeInternalMessage = (text: string): InternalMessage | undefined => {
  const result = decodeInternal(text)
  if (result._tag === "Failure") return undefined
  const json = result.success
  if ("r" in json) {
    const [partition, maxEventTimeMs, next, idle] = json.r
    return { _tag: "report", report: { partition, maxEventTimeMs, next, idle: idle === 1 } }
  }
  const hashes = unpackHashes(json.h)
  if (hashes === undefined) return undefined
  const [partition, startMs, status, count] = json.c
  return { _tag: "cell", cell: { partition, startMs, status, count, hashes, urls: json.u } }
}

/** The internal partition that merges a window: windows spread over the internal partitions in turn. */
export const internalPartitionOf = (startMs: number, windowMs: number, internalPartitions: number): number =>
  ((Math.floor(startMs / windowMs) % internalPartitions) + internalPartitions) % internalPartitions

// -- stage 1 ----------------------------------------------------------------------------------

/** What a partition's cells tell their stage: which changed, and whether one may be about to alert. */
interface CellTracker {
  readonly dirty: Set<PartialCell>
  /**
   * A cell counting from its share of threshold + 1 up to twice that, or reaching threshold + 1, makes
   * the next epoch urgent. With traffic spread evenly over the partitions, that is when the merged
   * count passes the threshold; at threshold + 1 this cell alone has. Not every count up to
   * threshold + 1: with many partitions that is most of a busy window, and each early commit is a
   * transaction (bench figure 15b). Traffic spread unevenly may wait for the commit interval.
   */
  readonly urgentFrom: number
  readonly urgentUpTo: number
  readonly alertAt: number
  urgent: boolean
}

/** A cell that remembers what it has not published yet. */
class PartialCell extends WindowCell {
  private readonly hashes = new Set<number>()
  sentCount = 0
  newHashes: Array<number> = []
  newUrls: Array<string> = []

  constructor(startMs: number, endMs: number, status: number, private readonly tracker: CellTracker) {
    super(startMs, endMs, status)
  }

  override add(ip: string, url: string): void {
    this.count++
    const hash = hashString(ip)
    if (!this.hashes.has(hash)) {
      this.hashes.add(hash)
      this.newHashes.push(hash)
    }
    if (!this.urls.has(url)) {
      this.urls.add(url)
      this.newUrls.push(url)
    }
    this.tracker.dirty.add(this)
    const { urgentFrom, urgentUpTo, alertAt } = this.tracker
    if ((this.count >= urgentFrom && this.count <= urgentUpTo) || this.count === alertAt) this.tracker.urgent = true
  }
}

/** Stage 1 for one input partition. */
export class PartitionStage {
  readonly analysis: Analysis
  private readonly tracker: CellTracker
  /** Wall-clock time of its latest valid record (-Infinity: none since it was assigned here). */
  private lastValidAtMs = -Infinity

  /**
   * `maxEventTimeMs`: wm_p's event time as the last commit left it; `nowMs`: when this owner took the
   * partition over, from which its idle time counts (the previous owner's clock is not known);
   * `partitionCount`: the input partitions, for its share of the threshold (see `urgent`).
   */
  constructor(
    readonly partition: number,
    settings: AnalysisSettings,
    maxEventTimeMs: number | null,
    nowMs: number,
    partitionCount = 1
  ) {
    this.tracker = {
      dirty: new Set(),
      urgentFrom: Math.max(1, Math.floor((settings.threshold + 1) / partitionCount)),
      urgentUpTo: 2 * Math.ceil((settings.threshold + 1) / partitionCount),
      alertAt: settings.threshold + 1,
      urgent: false
    }
    // Alerts are stage 2's: no count of one partition alone may fire one.
    this.analysis = new Analysis(
      { ...settings, threshold: Number.POSITIVE_INFINITY },
      (start, end, status) => new PartialCell(start, end, status, this.tracker)
    )
    this.analysis.restore({
      partitions: [{ partition, maxEventTimeMs }],
      closedThroughMs: maxEventTimeMs === null ? null : maxEventTimeMs - settings.watermarkMs,
      counters: zeroCounters(),
      cells: []
    })
    if (maxEventTimeMs !== null) this.lastValidAtMs = nowMs
  }

  /** Lines of this partition read at `nowMs`; errors and rejections go to `out`. */
  ingest(lines: ReadonlyArray<string | Uint8Array>, nowMs: number, out: AnalysisOutput): void {
    const valid = this.analysis.counters.valid
    this.analysis.ingest(lines, nowMs, out, this.partition, true)
    if (this.analysis.counters.valid > valid) this.lastValidAtMs = nowMs
    // Rows of windows this partition is done with are stage 2's to write, from every partition.
    out.closed.length = 0
    this.analysis.forgetChanges()
  }

  get maxEventTimeMs(): number | null {
    return this.analysis.maxEventTimeOf(this.partition)
  }

  /** The README's idle rule for this partition, given whether it has nothing unread. */
  isIdle(caughtUp: boolean, nowMs: number, idleTimeoutMs: number): boolean {
    return caughtUp && (this.maxEventTimeMs === null || nowMs - this.lastValidAtMs >= idleTimeoutMs)
  }

  /**
   * A cell of this partition reached its share of the threshold since the last partials: with the
   * other partitions' shares its window may alert now, so the epoch should not wait (latency only).
   */
  get urgent(): boolean {
    return this.tracker.urgent
  }

  /** The partials since the last call. */
  takePartials(): Array<CellPartial> {
    const out: Array<CellPartial> = []
    this.tracker.urgent = false
    for (const cell of this.tracker.dirty) {
      out.push({
        partition: this.partition,
        startMs: cell.startMs,
        status: cell.status,
        count: cell.count - cell.sentCount,
        hashes: cell.newHashes,
        urls: cell.newUrls
      })
      cell.sentCount = cell.count
      cell.newHashes = []
      cell.newUrls = []
    }
    this.tracker.dirty.clear()
    return out
  }

  /** Something to publish since the last `takePartials`. */
  get hasPartials(): boolean {
    return this.tracker.dirty.size > 0
  }
}

// -- stage 2 ----------------------------------------------------------------------------------

export interface MergeSettings {
  readonly windowMs: number
  readonly watermarkMs: number
  readonly threshold: number
}

/** What stage 2 knows of one input partition. */
export interface InputPartitionState {
  readonly maxEventTimeMs: number | null
  readonly next: number
  readonly idle: boolean
}

/** Stage 2's state besides its open cells, as its offset commit carries it (see `encodeMergeState`). */
export interface MergeState {
  /** Its epochs so far (names its `windows/` parts). */
  readonly epoch: number
  /** Every window ending at or before this instant is closed; null before the first close. */
  readonly closedThroughMs: number | null
  /** The internal offset from which a new owner re-reads to rebuild the open cells. */
  readonly replayFrom: number
  readonly partitions: ReadonlyMap<number, InputPartitionState>
}

/** What one step of stage 2 produced. */
export interface MergeOutput {
  readonly closed: Array<WindowRow>
  readonly alerts: Array<Alert>
}

export class WindowMerge {
  private readonly open = new Map<number, Map<number, WindowCell>>()
  /** The internal offset of each open window's first partial. */
  private readonly firstOffset = new Map<number, number>()
  private partitions = new Map<number, InputPartitionState>()
  private closedThroughMs = -Infinity
  /** The watermark windows last closed through, for the console. */
  watermarkMs = -Infinity
  epoch = 0
  /** Errors of partials for windows already closed (by the idle rule): late, counted in no window. */
  lateAfterClose = 0
  /** Cells touched since the last `takeUpdatedRows`. */
  private readonly updated = new Set<WindowCell>()

  constructor(readonly settings: MergeSettings) {}

  get openWindowCount(): number {
    return this.open.size
  }

  get windowsClosedThroughMs(): number {
    return this.closedThroughMs
  }

  *openCells(): IterableIterator<WindowCell> {
    for (const byStatus of this.open.values()) yield* byStatus.values()
  }

  /** Applies the internal message at `offset`. While `replaying`, reports are skipped (the restored state is newer) and no alert fires. */
  apply(message: InternalMessage, offset: number, nowMs: number, out: MergeOutput, replaying = false): void {
    if (message._tag === "report") {
      if (replaying) return
      const { partition, ...state } = message.report
      this.partitions.set(partition, state)
      return
    }
    const partial = message.cell
    const endMs = partial.startMs + this.settings.windowMs
    if (endMs <= this.closedThroughMs) {
      if (!replaying) this.lateAfterClose += partial.count
      return
    }
    let byStatus = this.open.get(partial.startMs)
    if (byStatus === undefined) {
      byStatus = new Map()
      this.open.set(partial.startMs, byStatus)
      this.firstOffset.set(partial.startMs, offset)
    }
    let cell = byStatus.get(partial.status)
    if (cell === undefined) {
      cell = new WindowCell(partial.startMs, endMs, partial.status)
      byStatus.set(partial.status, cell)
    }
    cell.count += partial.count
    for (const hash of partial.hashes) cell.ips.addHash(hash)
    for (const url of partial.urls) cell.urls.add(url)
    this.updated.add(cell)
    if (crossesThreshold(cell, this.settings.threshold) && !replaying) {
      out.alerts.push(makeAlert(cell, nowMs, this.settings.threshold + 1))
    }
  }

  /**
   * Closes through the minimum watermark of the input partitions that are not idle. `ends`: each
   * input partition's end offset; one with records beyond what its reader reported is not idle,
   * whatever the report says (its reader may be gone). A partition never reported holds windows
   * back while it has records. When every partition is idle, every open window closes.
   */
  close(ends: ReadonlyMap<number, { readonly low: number; readonly high: number }>, out: MergeOutput): void {
    let minMs = Infinity
    for (const [partition, range] of ends) {
      const state = this.partitions.get(partition)
      const idle = state === undefined
        ? range.high <= range.low
        : state.idle && range.high <= state.next
      if (idle) continue
      const wm = state?.maxEventTimeMs === null || state === undefined ? -Infinity : state.maxEventTimeMs - this.settings.watermarkMs
      if (wm < minMs) minMs = wm
    }
    if (minMs === Infinity) {
      let lastEnd = this.closedThroughMs
      for (const startMs of this.open.keys()) lastEnd = Math.max(lastEnd, startMs + this.settings.windowMs)
      this.closeThrough(lastEnd, out)
      return
    }
    this.watermarkMs = minMs
    this.closeThrough(minMs, out)
  }

  private closeThrough(throughMs: number, out: MergeOutput): void {
    if (throughMs <= this.closedThroughMs) return
    this.closedThroughMs = throughMs
    const closing = [...this.open.keys()].filter((s) => s + this.settings.windowMs <= throughMs).sort((a, b) => a - b)
    for (const startMs of closing) {
      const byStatus = this.open.get(startMs)!
      this.open.delete(startMs)
      this.firstOffset.delete(startMs)
      for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
        const cell = byStatus.get(status)!
        out.closed.push(cell.toRow())
        this.updated.delete(cell)
      }
    }
  }

  /** The state to commit with offset `next` (the next internal offset to read). */
  state(next: number): MergeState {
    let replayFrom = next
    for (const offset of this.firstOffset.values()) replayFrom = Math.min(replayFrom, offset)
    return {
      epoch: this.epoch,
      closedThroughMs: Number.isFinite(this.closedThroughMs) ? this.closedThroughMs : null,
      replayFrom,
      partitions: this.partitions
    }
  }

  /** A new owner's start: the committed state; the open cells come back by re-reading from `replayFrom`. */
  restore(state: MergeState): void {
    this.epoch = state.epoch
    this.closedThroughMs = state.closedThroughMs ?? -Infinity
    this.partitions = new Map(state.partitions)
    this.open.clear()
    this.firstOffset.clear()
  }

  /** Current rows of the cells updated since the last call, oldest window first. */
  takeUpdatedRows(): Array<WindowRow> {
    const cells = [...this.updated].sort((a, b) => a.startMs - b.startMs || a.status - b.status)
    this.updated.clear()
    return cells.map((cell) => cell.toRow())
  }
}

// -- what the offset commits carry --------------------------------------------------------------

/** Offset metadata: `loglens/2` then `key=value` pairs separated by spaces. */
const METADATA_PREFIX = "loglens/2"

const encodePairs = (pairs: Record<string, string>): string =>
  [METADATA_PREFIX, ...Object.entries(pairs).map(([k, v]) => `${k}=${v}`)].join(" ")

const decodePairs = (metadata: string | null | undefined): Map<string, string> | undefined => {
  if (!metadata || !metadata.startsWith(`${METADATA_PREFIX} `)) return undefined
  const pairs = new Map<string, string>()
  for (const word of metadata.slice(METADATA_PREFIX.length + 1).split(" ")) {
    const eq = word.indexOf("=")
    if (eq > 0) pairs.set(word.slice(0, eq), word.slice(eq + 1))
  }
  return pairs
}

const numberOrNull = (text: string | undefined): number | null | undefined => {
  if (text === undefined) return undefined
  if (text === "-") return null
  const n = Number(text)
  return Number.isFinite(n) ? n : undefined
}

/** What a stage-1 commit of an input partition says: its part files' token, and wm_p's event time. */
export interface PartitionCommit {
  /** Names the epoch's prepared part files, published once this commit is in. */
  readonly token: string
  /** The first offset of the epoch: its part files are named by it. */
  readonly from: number
  readonly maxEventTimeMs: number | null
}

export const encodePartitionCommit = (c: PartitionCommit): string =>
  encodePairs({ t: c.token, f: String(c.from), m: c.maxEventTimeMs === null ? "-" : String(c.maxEventTimeMs) })

export const decodePartitionCommit = (metadata: string | null | undefined): PartitionCommit | undefined => {
  const pairs = decodePairs(metadata)
  const token = pairs?.get("t")
  const from = numberOrNull(pairs?.get("f"))
  const maxEventTimeMs = numberOrNull(pairs?.get("m"))
  if (token === undefined || typeof from !== "number" || maxEventTimeMs === undefined) return undefined
  return { token, from, maxEventTimeMs }
}

/** What a stage-2 commit of an internal partition says: its token and its `MergeState`. */
export interface MergeCommit {
  readonly token: string
  readonly state: MergeState
}

export const encodeMergeCommit = ({ token, state }: MergeCommit): string =>
  encodePairs({
    t: token,
    e: String(state.epoch),
    r: String(state.replayFrom),
    c: state.closedThroughMs === null ? "-" : String(state.closedThroughMs),
    p: [...state.partitions].sort((a, b) => a[0] - b[0]).map(([p, s]) =>
      `${p}:${s.maxEventTimeMs === null ? "-" : s.maxEventTimeMs}:${s.next}:${s.idle ? 1 : 0}`
    ).join(",")
  })

export const decodeMergeCommit = (metadata: string | null | undefined): MergeCommit | undefined => {
  const pairs = decodePairs(metadata)
  if (pairs === undefined) return undefined
  const token = pairs.get("t")
  const epoch = numberOrNull(pairs.get("e"))
  const replayFrom = numberOrNull(pairs.get("r"))
  const closedThroughMs = numberOrNull(pairs.get("c"))
  if (token === undefined || typeof epoch !== "number" || typeof replayFrom !== "number" || closedThroughMs === undefined) {
    return undefined
  }
  const partitions = new Map<number, InputPartitionState>()
  for (const item of (pairs.get("p") ?? "").split(",")) {
    if (item === "") continue
    const [p, m, n, i] = item.split(":")
    const maxEventTimeMs = numberOrNull(m)
    const next = numberOrNull(n)
    if (p === undefined || maxEventTimeMs === undefined || typeof next !== "number") return undefined
    partitions.set(Number(p), { maxEventTimeMs, next, idle: i === "1" })
  }
  return { token, state: { epoch, closedThroughMs, replayFrom, partitions } }
}
