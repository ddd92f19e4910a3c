/**
 * Tumbling event-time windows aligned to the Unix epoch, and the aggregate
 * kept for each (window, status) cell: error count, distinct IPs
 * (HyperLogLog) and distinct URLs.
 */
import * as Schema from "effect/Schema"
import { HyperLogLog, HyperLogLogJson } from "./HyperLogLog.ts"
import { formatInstant } from "./Timestamp.ts"

/** Start of the window `[k·size, (k+1)·size)` that holds `eventTimeMs`. */
export const windowStartOf = (eventTimeMs: number, sizeMs: number): number =>
  eventTimeMs - (((eventTimeMs % sizeMs) + sizeMs) % sizeMs)

// "/resource/2" before "/resource/10", as people read them.
const naturalOrder = new Intl.Collator("en", { numeric: true }).compare

/** One final (or, in the console report, current) row per (window, status). */
export interface WindowRow {
  readonly window_start: string
  readonly window_end: string
  readonly status: number
  readonly error_count: number
  readonly unique_ips: number
  readonly urls: ReadonlyArray<string>
}

export class WindowCell {
  count = 0
  alerted = false
  readonly ips: HyperLogLog
  readonly urls: Set<string>

  constructor(
    readonly startMs: number,
    readonly endMs: number,
    readonly status: number,
    ips: HyperLogLog = new HyperLogLog(),
    urls: Set<string> = new Set()
  ) {
    this.ips = ips
    this.urls = urls
  }

  add(ip: string, url: string): void {
    this.count++
    this.ips.add(ip)
    this.urls.add(url)
  }

  /** The estimate, never more than the errors counted: an estimate above the count is pure noise. */
  uniqueIps(): number {
    return Math.min(this.ips.estimate(), this.count)
  }

  toRow(): WindowRow {
    return {
      window_start: formatInstant(this.startMs),
      window_end: formatInstant(this.endMs),
      status: this.status,
      error_count: this.count,
      unique_ips: this.uniqueIps(),
      urls: Array.from(this.urls).sort(naturalOrder)
    }
  }

  toJSON(): WindowCellJson {
    return {
      start: this.startMs,
      end: this.endMs,
      status: this.status,
      count: this.count,
      alerted: this.alerted,
      ips: this.ips.toJSON(),
      urls: Array.from(this.urls)
    }
  }

  static fromJSON(json: WindowCellJson): WindowCell {
    const cell = new WindowCell(json.start, json.end, json.status, HyperLogLog.fromJSON(json.ips), new Set(json.urls))
    cell.count = json.count
    cell.alerted = json.alerted
    return cell
  }
}

/** A cell in the checkpoint. */
export const WindowCellJson = Schema.Struct({
  start: Schema.Int,
  end: Schema.Int,
  status: Schema.Int,
  count: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  alerted: Schema.Boolean,
  ips: HyperLogLogJson,
  urls: Schema.Array(Schema.String)
})
export type WindowCellJson = typeof WindowCellJson.Type
