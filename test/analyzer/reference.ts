/**
 * An independent, deliberately naive model of the analyzer's rules
 * (README, "What the analyzer computes"), used to compute what the sinks must receive. It shares
 * no code with src/ (only the output row's type): its own line splitting,
 * timestamp parsing, validation, watermark and window bookkeeping, written for
 * clarity, not speed.
 */
import type { WindowRow } from "../../src/domain/Window.ts"

export interface RefSettings {
  readonly format: "json" | "csv"
  readonly windowMs: number
  readonly watermarkMs: number
  readonly threshold: number
  readonly maxFutureMs: number
  /** The (fixed) clock reading while the input is analysed. */
  readonly nowMs: number
}

export interface RefRecord {
  readonly timestamp: string
  readonly ip: string
  readonly method: string
  readonly url: string
  readonly status: number
}

/** The output format is shared; the arithmetic that fills it here is not. */
export type RefRow = WindowRow

export interface RefResult {
  /** `errors/` lines, in input order. */
  readonly errors: Array<string>
  /** Final rows of every (window, status) that received a non-late error. */
  readonly rows: Array<RefRow>
  /** The rejected lines' text (after a trailing CR is dropped), in input order. */
  readonly rejectedLines: Array<string>
  /** (window_start, status, error_count at firing) per alert, in firing order. */
  readonly alerts: Array<{ window_start: string; window_end: string; status: number; error_count: number; unique_ips: number }>
  readonly counters: {
    lines: number; valid: number; errors: number; rejected: number; late: number
    lateBehindMs: number; lateWatermarkMs: number; lateAfterClose: number
  }
  /** Index (0-based, over the raw `\n`-separated lines) of the line that fired each alert. */
  readonly alertLineIndexes: Array<number>
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/

/** Event time in ms (fraction truncated to ms), or undefined when not a valid zoned ISO-8601 instant. */
export const refEventTime = (text: string): number | undefined => {
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number
  ]
  const ms = m[7] === undefined ? 0 : Number((m[7] + "00").slice(0, 3))
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  // Reject calendar overflow such as February 30th.
  if (new Date(utc).getUTCDate() !== day) return undefined
  if (m[8] === "Z") return utc
  const sign = m[9] === "+" ? 1 : -1
  const oh = Number(m[10])
  const om = Number(m[11])
  if (oh > 23 || om > 59) return undefined
  return utc - sign * (oh * 60 + om) * 60_000
}

const validRecord = (value: unknown): RefRecord | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  if (typeof v.timestamp !== "string" || typeof v.ip !== "string" || typeof v.method !== "string") return undefined
  if (typeof v.url !== "string" || typeof v.status !== "number") return undefined
  if (!Number.isInteger(v.status) || v.status < 100 || v.status > 599) return undefined
  if (refEventTime(v.timestamp) === undefined) return undefined
  return { timestamp: v.timestamp, ip: v.ip, method: v.method, url: v.url, status: v.status }
}

/** "valid" record, "skip" (CSV header) or undefined (rejected). Only handles the unquoted CSV the fixtures use. */
export const refDecode = (line: string, format: "json" | "csv"): RefRecord | "skip" | undefined => {
  if (format === "json") {
    try {
      return validRecord(JSON.parse(line))
    } catch {
      return undefined
    }
  }
  if (line === "timestamp,ip,method,url,status") return "skip"
  const fields = line.split(",")
  if (fields.length !== 5 || fields.some((f) => f.includes("\""))) return undefined
  const [timestamp, ip, method, url, status] = fields as [string, string, string, string, string]
  if (!/^\d+$/.test(status)) return undefined
  return validRecord({ timestamp, ip, method, url, status: Number(status) })
}

/** URLs as people read them: /resource/2 before /resource/10. */
export const naturalOrder = (a: string, b: string): number => {
  const na = /^(.*?)(\d+)$/.exec(a)
  const nb = /^(.*?)(\d+)$/.exec(b)
  if (na !== null && nb !== null && na[1] === nb[1]) return Number(na[2]) - Number(nb[2])
  return a < b ? -1 : a > b ? 1 : 0
}

const iso = (ms: number) => new Date(ms).toISOString()

/** A (window, status) cell's final row: its errors, distinct IPs (exactly) and URLs in natural order. */
export const refRow = (
  c: { readonly start: number; readonly status: number; readonly count: number; readonly ips: ReadonlySet<string>; readonly urls: ReadonlySet<string> },
  windowMs: number
): RefRow => ({
  window_start: iso(c.start),
  window_end: iso(c.start + windowMs),
  status: c.status,
  error_count: c.count,
  unique_ips: c.ips.size,
  urls: [...c.urls].sort(naturalOrder)
})

/** Splits bytes on `\n` like `text.split("\n")` without the trailing empty piece. */
export const refLines = (bytes: Uint8Array): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let start = 0
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 10) {
      out.push(bytes.subarray(start, i))
      start = i + 1
    }
  }
  if (start < bytes.length) out.push(bytes.subarray(start))
  return out
}

export const analyseReference = (input: Uint8Array, s: RefSettings): RefResult => {
  const decoder = new TextDecoder("utf-8", { fatal: true })
  const errors: Array<string> = []
  const rejectedLines: Array<string> = []
  const alerts: RefResult["alerts"] = []
  const alertLineIndexes: Array<number> = []
  const counters = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0 }
  // cell key `${start}|${status}` -> {count, ips, urls, alerted}
  const cells = new Map<string, { start: number; status: number; count: number; ips: Set<string>; urls: Set<string>; alerted: boolean }>()
  let maxEvent = -Infinity
  const rawLines = refLines(input)
  rawLines.forEach((bytes, index) => {
    let line: string
    try {
      line = decoder.decode(bytes)
    } catch {
      counters.lines++
      counters.rejected++
      rejectedLines.push(new TextDecoder("utf-8").decode(bytes))
      return
    }
    if (line.endsWith("\r")) line = line.slice(0, -1)
    if (line.trim() === "") return
    counters.lines++
    const record = refDecode(line, s.format)
    if (record === "skip") return
    if (record === undefined) {
      counters.rejected++
      rejectedLines.push(line)
      return
    }
    const t = refEventTime(record.timestamp)!
    if (t > s.nowMs + s.maxFutureMs) {
      counters.rejected++
      rejectedLines.push(line)
      return
    }
    counters.valid++
    maxEvent = Math.max(maxEvent, t)
    if (record.status < 400) return
    counters.errors++
    errors.push(JSON.stringify(record))
    const start = Math.floor(t / s.windowMs) * s.windowMs
    const end = start + s.windowMs
    // The window is closed once the watermark (max event time - lateness) reached its end.
    if (maxEvent - s.watermarkMs >= end) {
      counters.late++
      // How far behind the newest time it was, and the watermark that would have kept its window open.
      counters.lateBehindMs = Math.max(counters.lateBehindMs, maxEvent - t)
      counters.lateWatermarkMs = Math.max(counters.lateWatermarkMs, maxEvent - end + 1)
      return
    }
    const key = `${start}|${record.status}`
    let cell = cells.get(key)
    if (cell === undefined) {
      cell = { start, status: record.status, count: 0, ips: new Set(), urls: new Set(), alerted: false }
      cells.set(key, cell)
    }
    cell.count++
    cell.ips.add(record.ip)
    cell.urls.add(record.url)
    if (!cell.alerted && cell.count > s.threshold) {
      cell.alerted = true
      alerts.push({ window_start: iso(start), window_end: iso(end), status: record.status, error_count: cell.count, unique_ips: cell.ips.size })
      alertLineIndexes.push(index)
    }
  })
  const rows = [...cells.values()].map((c) => refRow(c, s.windowMs))
  return { errors, rows, rejectedLines, alerts, counters, alertLineIndexes }
}
