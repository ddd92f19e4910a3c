/**
 * An independent model of the per-partition watermark rule (README, "What the
 * analyzer computes"), for input split over partitions. Like
 * reference.ts (whose record parsing it uses) it shares no code with src/.
 *
 * Why one pass per partition is enough: a record read from p is late when its
 * window's end is at or before wm_p, and wm_p depends only on p's earlier
 * records, so each late decision depends only on p's records in offset order.
 * A window closes once the minimum of the partitions' watermarks reaches its
 * end; then every partition's watermark has, and every later record of that
 * window is late anyway, so no interleaving makes a window close before its
 * non-late records are in. The final rows are the same for every
 * interleaving, and the model collects them at the end. (Closes caused by
 * idle partitions depend on wall time; the model has none, as in a backlog
 * read to its end.)
 *
 * One thing does depend on the interleaving: which threshold + 1 records take
 * a cell over the threshold. So an alert's error_count is always
 * threshold + 1, but its unique_ips can be the distinct IPs of any union of
 * per-partition prefixes of the cell's records holding threshold + 1 records;
 * the model lists every such value.
 */
import { naturalOrder, refDecode, refEventTime, type RefRow, type RefSettings } from "./reference.ts"

export interface PartitionRefAlert {
  readonly window_start: string
  readonly window_end: string
  readonly status: number
  readonly error_count: number
  /** Every unique_ips some interleaving of the partitions gives at the moment the alert fires, ascending. */
  readonly uniqueIps: ReadonlyArray<number>
}

export interface PartitionRefResult {
  /** `errors/` lines of each partition, in its offset order. */
  readonly errors: Array<Array<string>>
  /** Rejected lines of each partition, in its offset order. */
  readonly rejectedLines: Array<Array<string>>
  /** One final row per (window, status) with a non-late error, ordered by window then status. */
  readonly rows: Array<RefRow>
  readonly alerts: Array<PartitionRefAlert>
  readonly counters: {
    lines: number; valid: number; errors: number; rejected: number; late: number
    lateBehindMs: number; lateWatermarkMs: number; lateAfterClose: number
  }
}

interface Cell {
  readonly start: number
  readonly status: number
  /** IPs of the cell's non-late errors, per partition, in offset order. */
  readonly ips: Array<Array<string>>
  readonly urls: Set<string>
}

const iso = (ms: number) => new Date(ms).toISOString()

/** `partitions[p]` holds partition p's lines (without `\n`) in offset order. */
export const analysePartitionsReference = (
  partitions: ReadonlyArray<ReadonlyArray<string>>,
  s: RefSettings
): PartitionRefResult => {
  const counters = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0 }
  const cells = new Map<string, Cell>()
  const errors = partitions.map(() => [] as Array<string>)
  const rejectedLines = partitions.map(() => [] as Array<string>)
  partitions.forEach((lines, p) => {
    let maxEvent = -Infinity
    for (let line of lines) {
      if (line.endsWith("\r")) line = line.slice(0, -1)
      if (line.trim() === "") continue
      counters.lines++
      const record = refDecode(line, s.format)
      if (record === "skip") continue
      const t = record === undefined ? undefined : refEventTime(record.timestamp)!
      if (record === undefined || t === undefined || t > s.nowMs + s.maxFutureMs) {
        counters.rejected++
        rejectedLines[p]!.push(line)
        continue
      }
      counters.valid++
      maxEvent = Math.max(maxEvent, t)
      if (record.status < 400) continue
      counters.errors++
      errors[p]!.push(JSON.stringify(record))
      const start = Math.floor(t / s.windowMs) * s.windowMs
      if (start + s.windowMs <= maxEvent - s.watermarkMs) {
        counters.late++
        // Behind its partition's newest time by; the watermark that would have kept its window open.
        counters.lateBehindMs = Math.max(counters.lateBehindMs, maxEvent - t)
        counters.lateWatermarkMs = Math.max(counters.lateWatermarkMs, maxEvent - (start + s.windowMs) + 1)
        continue
      }
      const key = `${start}|${record.status}`
      let cell = cells.get(key)
      if (cell === undefined) {
        cell = { start, status: record.status, ips: partitions.map(() => []), urls: new Set() }
        cells.set(key, cell)
      }
      cell.ips[p]!.push(record.ip)
      cell.urls.add(record.url)
    }
  })
  const ordered = [...cells.values()].sort((a, b) => a.start - b.start || a.status - b.status)
  const rows = ordered.map((c) => ({
    window_start: iso(c.start),
    window_end: iso(c.start + s.windowMs),
    status: c.status,
    error_count: c.ips.reduce((n, ips) => n + ips.length, 0),
    unique_ips: new Set(c.ips.flat()).size,
    urls: [...c.urls].sort(naturalOrder)
  }))
  const alerts = ordered
    .filter((c) => c.ips.reduce((n, ips) => n + ips.length, 0) > s.threshold)
    .map((c) => ({
      window_start: iso(c.start),
      window_end: iso(c.start + s.windowMs),
      status: c.status,
      error_count: s.threshold + 1,
      uniqueIps: prefixUnionSizes(c.ips, s.threshold + 1)
    }))
  return { errors, rejectedLines, rows, alerts, counters }
}

/**
 * The distinct-value counts of every union of prefixes, one per list, that holds `total` items in
 * all: each way of taking k_p items from the front of list p with the k_p summing to `total`.
 */
export const prefixUnionSizes = (lists: ReadonlyArray<ReadonlyArray<string>>, total: number): Array<number> => {
  const sizes = new Set<number>()
  const seen = new Map<string, number>()
  const add = (v: string) => seen.set(v, (seen.get(v) ?? 0) + 1)
  const remove = (v: string) => {
    const n = seen.get(v)! - 1
    if (n === 0) seen.delete(v)
    else seen.set(v, n)
  }
  const after = lists.map((_, p) => lists.slice(p + 1).reduce((n, l) => n + l.length, 0))
  const walk = (p: number, left: number): void => {
    const list = lists[p]!
    if (p === lists.length - 1) {
      if (left > list.length) return
      for (let i = 0; i < left; i++) add(list[i]!)
      sizes.add(seen.size)
      for (let i = 0; i < left; i++) remove(list[i]!)
      return
    }
    // Take k from this list, the rest from the later ones (which must be able to hold it).
    const k0 = Math.max(0, left - after[p]!)
    for (let i = 0; i < k0; i++) add(list[i]!)
    for (let k = k0; k <= Math.min(left, list.length); k++) {
      walk(p + 1, left - k)
      if (k < list.length) add(list[k]!)
    }
    for (let i = 0; i < Math.min(left, list.length) + 1 && i < list.length; i++) remove(list[i]!)
  }
  if (lists.length > 0) walk(0, total)
  return [...sizes].sort((a, b) => a - b)
}

/** An estimate (HyperLogLog, capped at the count) is within 2 % of one of the possible exact values. */
export const matchesOneOf = (estimate: number, exact: ReadonlyArray<number>): boolean =>
  exact.some((n) => Math.abs(estimate - n) <= 0.02 * n)
