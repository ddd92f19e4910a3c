/**
 * Input with known content for the consumer-group tests (issue 12), and an
 * independent model of what a group of analyzers must make of it. Nothing
 * here imports src/: the lines are built by the test, so which of them are
 * malformed and what each valid one holds is known by construction, and the
 * model applies the README's per-partition rules ("What the analyzer
 * computes") to each partition's lines in offset order:
 *
 * - wm_p = newest valid event time of p so far (the record being read
 *   included) minus the watermark;
 * - an error is late when its window's end <= wm_p as it is read: it is in
 *   errors/ but in no window;
 * - every other error counts in its (window, status) cell; the final rows
 *   are the same for every interleaving of the partitions, since the tests
 *   keep every partition from going idle before its last record (the only
 *   closes that depend on wall time happen once everything is read);
 * - an alert per cell whose count passes the threshold, error_count =
 *   threshold + 1 (its unique_ips depends on the interleaving, so the tests
 *   only bound it).
 *
 * unique_ips is an exact count here: the README says the HyperLogLog is exact
 * below 4 096 IPs, and no cell comes near that.
 */
import { type RefRow, refRow } from "../../analyzer/reference.ts"
import { prng } from "../../support/random.ts"

export interface GroupRecord {
  readonly timestamp: string
  readonly ip: string
  readonly method: string
  readonly url: string
  readonly status: number
}

/** One produced line: `record` when it is a valid record, undefined when it was built malformed. */
export interface Entry {
  readonly line: string
  readonly record?: GroupRecord
}

/** A window row, as the single-process reference writes it. */
export type GroupRow = RefRow

export interface GroupSettings {
  readonly windowMs: number
  readonly watermarkMs: number
  readonly threshold: number
}

export interface GroupTruth {
  /** Per partition, its errors in offset order: canonical key and offset. */
  readonly errors: ReadonlyArray<ReadonlyArray<{ readonly key: string; readonly offset: number }>>
  /** Per partition, its malformed lines in offset order. */
  readonly rejected: ReadonlyArray<ReadonlyArray<string>>
  /** One row per (window, status) with a non-late error, by window then status. */
  readonly rows: ReadonlyArray<GroupRow>
  readonly alerts: ReadonlyArray<{ readonly window_start: string; readonly window_end: string; readonly status: number }>
  readonly counts: { readonly lines: number; readonly errors: number; readonly late: number; readonly rejected: number }
}

/** The canonical text of an error record, whatever the key order on disk. */
export const errorKeyOf = (e: { timestamp: string; ip: string; method: string; url: string; status: number }): string =>
  JSON.stringify([e.timestamp, e.ip, e.method, e.url, e.status])

const iso = (ms: number): string => new Date(ms).toISOString()


/** The model: `partitions[p]` is partition p's entries in offset order (offset = index). */
export const groupTruth = (partitions: ReadonlyArray<ReadonlyArray<Entry>>, s: GroupSettings): GroupTruth => {
  const cells = new Map<string, { start: number; status: number; count: number; ips: Set<string>; urls: Set<string> }>()
  const errors = partitions.map(() => [] as Array<{ key: string; offset: number }>)
  const rejected = partitions.map(() => [] as Array<string>)
  const counts = { lines: 0, errors: 0, late: 0, rejected: 0 }
  partitions.forEach((entries, p) => {
    let newest = -Infinity
    entries.forEach((entry, offset) => {
      counts.lines++
      const r = entry.record
      if (r === undefined) {
        counts.rejected++
        rejected[p]!.push(entry.line)
        return
      }
      const t = Date.parse(r.timestamp)
      newest = Math.max(newest, t)
      if (r.status < 400) return
      counts.errors++
      errors[p]!.push({ key: errorKeyOf(r), offset })
      const start = Math.floor(t / s.windowMs) * s.windowMs
      if (start + s.windowMs <= newest - s.watermarkMs) {
        counts.late++
        return
      }
      const id = `${start}|${r.status}`
      let cell = cells.get(id)
      if (cell === undefined) {
        cell = { start, status: r.status, count: 0, ips: new Set(), urls: new Set() }
        cells.set(id, cell)
      }
      cell.count++
      cell.ips.add(r.ip)
      cell.urls.add(r.url)
    })
  })
  const ordered = [...cells.values()].sort((a, b) => a.start - b.start || a.status - b.status)
  return {
    errors,
    rejected,
    rows: ordered.map((c) => refRow(c, s.windowMs)),
    alerts: ordered.filter((c) => c.count > s.threshold).map((c) => ({
      window_start: iso(c.start),
      window_end: iso(c.start + s.windowMs),
      status: c.status
    })),
    counts
  }
}

/** Lines that are malformed by construction (README, "Bad lines"). */
const MALFORMED = [
  "this is not json",
  "{\"timestamp\":\"2025-05-30T18:52:47.123Z\",\"ip\":",
  "[1,2,3]",
  "{\"timestamp\":\"2025-05-30T18:52:47Z\",\"ip\":\"10.0.0.1\",\"method\":\"GET\",\"url\":\"/x\",\"status\":700}",
  "{\"timestamp\":\"2025-05-30T18:52:47\",\"ip\":\"10.0.0.1\",\"method\":\"GET\",\"url\":\"/x\",\"status\":404}",
  "{\"timestamp\":\"2025-05-30T18:52:47Z\",\"ip\":42,\"method\":\"GET\",\"url\":\"/x\",\"status\":500}"
]

/** Chances of 404, 500 and 503 by window index mod 3: some cells pass a threshold around 100 and some do not. */
const PROFILES = [[0.06, 0.045, 0.02], [0.03, 0.02, 0.012], [0.05, 0.035, 0.025]] as const

export const recordLine = (r: GroupRecord): string =>
  `{"timestamp":"${r.timestamp}","ip":"${r.ip}","method":"${r.method}","url":"${r.url}","status":${r.status}}`

export interface MakeOptions {
  /** Window-aligned start of event time. */
  readonly baseMs: number
  readonly partitions: number
  readonly perPartition: number
  /** Event time between two consecutive records of a partition. */
  readonly stepMs: number
  readonly seed: number
  /** Share of records moved back in time by up to `maxBackMs` (some of them late). */
  readonly outOfOrder?: number
  readonly maxBackMs?: number
  /** Share of malformed lines. */
  readonly malformed?: number
}

/**
 * Per partition, `perPartition` entries: event times climbing by `stepMs` from `baseMs` (plus a
 * per-partition offset of a few ms), a few of them moved back, errors by PROFILES, a few malformed
 * lines. The first entry of every partition is a valid 200. Every error's canonical key is
 * unique over all partitions, so each error on disk can be traced to its partition and offset.
 */
export const makeEntries = (o: MakeOptions): Array<Array<Entry>> => {
  const random = prng(o.seed)
  const methods = ["GET", "POST", "PUT", "DELETE"]
  const outOfOrder = o.outOfOrder ?? 0.03
  const maxBackMs = o.maxBackMs ?? 25_000
  const malformed = o.malformed ?? 0.002
  const used = new Set<number>()
  return Array.from({ length: o.partitions }, (_, p) => {
    const entries: Array<Entry> = []
    for (let i = 0; i < o.perPartition; i++) {
      if (i > 0 && random() < malformed) {
        entries.push({ line: MALFORMED[Math.floor(random() * MALFORMED.length)]! })
        continue
      }
      let t = o.baseMs + i * o.stepMs + p * 7
      if (i > 0 && random() < outOfOrder) t -= Math.floor(random() * maxBackMs)
      // Event times are unique over the whole input: an error on disk names its partition and offset.
      while (used.has(t)) t += 1
      used.add(t)
      const window = Math.floor((t - o.baseMs) / 30_000)
      const [p404, p500, p503] = PROFILES[((window % 3) + 3) % 3]!
      const roll = random()
      const status = i === 0 ? 200 : roll < p404 ? 404 : roll < p404 + p500 ? 500 : roll < p404 + p500 + p503 ? 503 : 200
      const record: GroupRecord = {
        timestamp: iso(t),
        ip: `10.${Math.floor(random() * 3)}.${Math.floor(random() * 20)}.${1 + Math.floor(random() * 20)}`,
        method: methods[Math.floor(random() * methods.length)]!,
        url: random() < 0.7 ? `/shop/item/${1 + Math.floor(random() * 30)}` : `/api/order/${1 + Math.floor(random() * 12)}`,
        status
      }
      entries.push({ line: recordLine(record), record })
    }
    return entries
  })
}
