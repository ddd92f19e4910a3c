/**
 * The Analysis engine over several input partitions: every partition has its
 * own watermark, windows close at the minimum over the partitions that are
 * not idle, and the results do not depend on how the partitions' records
 * interleave (checked against test/analyzer/partitionReference.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Analysis, AnalysisOutput } from "../../src/domain/Analysis.ts"
import type { WindowRow } from "../../src/domain/Window.ts"
import { analysePartitionsReference, matchesOneOf, prefixUnionSizes } from "../analyzer/partitionReference.ts"

import { NOW, referenceSettings, SECOND, SETTINGS, T0 } from "../support/analysisSettings.ts"
import { partitionLines } from "../support/partitionLines.ts"
const iso = (ms: number): string => new Date(ms).toISOString()
const line = (ms: number, status: number, ip = "10.0.0.1", url = "/resource/1"): string =>
  JSON.stringify({ timestamp: iso(ms), ip, method: "GET", url, status })

const step = (f: (out: AnalysisOutput) => void) => {
  const out = new AnalysisOutput()
  f(out)
  return { errors: [...out.errors], rejected: [...out.rejected], closed: [...out.closed], alerts: [...out.alerts] }
}
const read = (a: Analysis, partition: number, lines: Array<string>, options: { now?: number; caughtUp?: boolean } = {}) =>
  step((out) => a.ingest(lines, options.now ?? NOW, out, partition, options.caughtUp ?? false))
const idleCheck = (a: Analysis, now: number) => step((out) => a.closeIfIdle(now, out))
const starts = (rows: ReadonlyArray<WindowRow>) => rows.map((r) => r.window_start)
const reading = (...partitions: Array<number>) => partitions.map((partition) => ({ partition, caughtUp: false }))

describe("Analysis over partitions", () => {
  it("decides lateness by the record's own partition: far ahead in one is not late in another", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 100_000, 200)])
    // Partition 1 has read nothing yet: T0 + 1 s is on time there, and its window is still open.
    assert.deepStrictEqual(read(a, 1, [line(T0 + 1_000, 404)]).closed, [])
    assert.strictEqual(a.counters.late, 0)
    // In partition 0 the same record is late.
    read(a, 0, [line(T0 + 2_000, 404)])
    assert.strictEqual(a.counters.late, 1)
    // Partition 1 passes the window end: the minimum does, so the window closes with one error.
    const closed = read(a, 1, [line(T0 + 40_000, 200)]).closed
    assert.deepStrictEqual(closed.map((r) => [r.window_start, r.error_count]), [[iso(T0), 1]])
  })

  it("closes a window when the minimum partition watermark reaches its end, not before", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1, 2))
    read(a, 0, [line(T0 + 1_000, 404), line(T0 + 90_000, 200)])
    read(a, 1, [line(T0 + 39_999, 200)])
    assert.deepStrictEqual(read(a, 2, [line(T0 + 60_000, 200)]).closed, [])
    assert.strictEqual(a.watermarkMs, T0 + 29_999)
    assert.deepStrictEqual(starts(read(a, 1, [line(T0 + 40_000, 200)]).closed), [iso(T0)])
    assert.strictEqual(a.watermarkMs, T0 + 30_000)
  })

  it("lets a partition that never had a record hold windows back while it has unread records, not once it has none", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 1_000, 404), line(T0 + 60_000, 200)])
    assert.deepStrictEqual(idleCheck(a, NOW).closed, [])
    a.setPartitions([{ partition: 0, caughtUp: false }, { partition: 1, caughtUp: true }])
    assert.deepStrictEqual(starts(idleCheck(a, NOW).closed), [iso(T0)])
  })

  it("leaves a quiet partition out only once it is caught up and the idle timeout has passed", () => {
    const IDLE = SETTINGS.idleTimeoutMs
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 1_000, 404)], { now: NOW })
    read(a, 1, [line(T0 + 2_000, 500)], { now: NOW, caughtUp: true })
    // Partition 0 goes on; partition 1 is quiet from NOW on.
    read(a, 0, [line(T0 + 70_000, 200)], { now: NOW + IDLE - 1 })
    assert.deepStrictEqual(idleCheck(a, NOW + IDLE - 1).closed, [])
    assert.deepStrictEqual(starts(idleCheck(a, NOW + IDLE).closed), [iso(T0), iso(T0)])
    // A record of partition 1 for the closed window now counts as late, later windows still count.
    read(a, 1, [line(T0 + 3_000, 404), line(T0 + 65_000, 404)], { now: NOW + IDLE })
    assert.strictEqual(a.counters.late, 1)
    assert.strictEqual(a.openWindowCount, 1)
  })

  it("never leaves out a quiet partition that still has unread records", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 1_000, 404)], { now: NOW })
    read(a, 1, [line(T0 + 2_000, 500)], { now: NOW, caughtUp: false })
    read(a, 0, [line(T0 + 70_000, 200)], { now: NOW + 100 * SECOND })
    assert.deepStrictEqual(idleCheck(a, NOW + 3_600 * SECOND).closed, [])
    assert.strictEqual(a.openWindowCount, 1)
  })

  it("closes every open window when every partition is idle", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 1_000, 404)], { now: NOW, caughtUp: true })
    read(a, 1, [line(T0 + 61_000, 500)], { now: NOW, caughtUp: true })
    const early = new AnalysisOutput()
    assert.isFalse(a.closeIfIdle(NOW + SETTINGS.idleTimeoutMs - 1, early))
    assert.deepStrictEqual(early.closed, [])
    const out = new AnalysisOutput()
    assert.isTrue(a.closeIfIdle(NOW + SETTINGS.idleTimeoutMs, out))
    assert.deepStrictEqual(starts(out.closed), [iso(T0), iso(T0 + 60_000)])
  })

  it("lets partitions no longer assigned stop holding windows back, and closes nothing while none is assigned", () => {
    const a = new Analysis(SETTINGS)
    a.setPartitions(reading(0, 1))
    read(a, 0, [line(T0 + 1_000, 404), line(T0 + 60_000, 200)])
    read(a, 1, [line(T0 + 2_000, 404)])
    // A rebalance under way: no partition is read, so none is idle and nothing closes.
    a.setPartitions([])
    assert.deepStrictEqual(idleCheck(a, NOW + 3_600 * SECOND).closed, [])
    // Only partition 0 comes back: partition 1 no longer holds the window back.
    a.setPartitions(reading(0))
    assert.deepStrictEqual(idleCheck(a, NOW).closed.map((r) => r.error_count), [2])
  })

  it("after a restore, lets no partition be idle until the source is ready, not even one that never had a record", () => {
    const before = new Analysis(SETTINGS)
    before.setPartitions([{ partition: 0, caughtUp: false }, { partition: 1, caughtUp: false }])
    read(before, 0, [line(T0 + 1_000, 404), line(T0 + 60_000, 200)])
    const after = new Analysis(SETTINGS)
    after.restore(JSON.parse(JSON.stringify(before.snapshot())))
    // The source has not said anything yet: partition 1 may have unread records.
    assert.deepStrictEqual(idleCheck(after, NOW + 3_600 * SECOND).closed, [])
    after.sourceReady(NOW)
    after.setPartitions([{ partition: 0, caughtUp: false }, { partition: 1, caughtUp: true }])
    assert.deepStrictEqual(starts(idleCheck(after, NOW).closed), [iso(T0)])
  })

  it("keeps every partition's watermark in a snapshot", () => {
    const before = new Analysis(SETTINGS)
    before.setPartitions(reading(0, 1))
    read(before, 0, [line(T0 + 100_000, 200)])
    read(before, 1, [line(T0 + 1_000, 404)])
    const after = new Analysis(SETTINGS)
    after.restore(JSON.parse(JSON.stringify(before.snapshot())))
    after.setPartitions(reading(0, 1))
    read(after, 1, [line(T0 + 2_000, 404)])
    read(after, 0, [line(T0 + 3_000, 404)])
    assert.strictEqual(after.counters.late, 1)
    assert.deepStrictEqual(starts(read(after, 1, [line(T0 + 40_000, 200)]).closed), [iso(T0)])
  })
})

describe("prefixUnionSizes (the reference's alert IP counts)", () => {
  it("lists the distinct counts of every union of prefixes of the given total", () => {
    assert.deepStrictEqual(prefixUnionSizes([["a", "a", "b"], ["c"]], 2), [1, 2])
    assert.deepStrictEqual(prefixUnionSizes([["a", "b"], ["a", "b"]], 2), [1, 2])
    assert.deepStrictEqual(prefixUnionSizes([["a", "b", "c"]], 2), [2])
    assert.deepStrictEqual(prefixUnionSizes([["a"], ["b"], ["c"]], 3), [3])
  })
})

// -- properties: any interleaving of fixed per-partition sequences -----------

const THRESHOLD = 3


interface Outcome {
  readonly errors: Array<Array<string>>
  readonly rejected: Array<Array<string>>
  readonly rows: Array<WindowRow>
  readonly alerts: Array<{ key: string; error_count: number; unique_ips: number }>
  readonly counters: object
}

/**
 * Feeds the partitions in the order `order` picks (partition index, chunk length), then flushes.
 * With `restoreBefore` = k, the analysis is snapshot and restored into a new one before chunk k.
 */
const runInterleaved = (
  partitions: ReadonlyArray<ReadonlyArray<string>>,
  order: ReadonlyArray<[number, number]>,
  restoreBefore = -1
): Outcome => {
  const next = partitions.map(() => 0)
  const progress = () => partitions.map((lines, partition) => ({ partition, caughtUp: next[partition] === lines.length }))
  let a = new Analysis({ ...SETTINGS, threshold: THRESHOLD })
  a.setPartitions(progress())
  let chunk = 0
  const errors = partitions.map(() => [] as Array<string>)
  const rejected = partitions.map(() => [] as Array<string>)
  const rows: Array<WindowRow> = []
  const alerts: Outcome["alerts"] = []
  const out = new AnalysisOutput()
  const collect = (p: number | undefined) => {
    if (p !== undefined) {
      errors[p]!.push(...out.errors)
      rejected[p]!.push(...out.rejected.map((r) => r.line))
    }
    rows.push(...out.closed)
    for (const alert of out.alerts) {
      alerts.push({ key: `${alert.window_start}|${alert.status}`, error_count: alert.error_count, unique_ips: alert.unique_ips })
    }
    out.clear()
  }
  const feed = (p: number, n: number) => {
    if (chunk++ === restoreBefore) {
      const snapshot = JSON.parse(JSON.stringify(a.snapshot()))
      a = new Analysis({ ...SETTINGS, threshold: THRESHOLD })
      a.restore(snapshot)
      a.setPartitions(progress())
    }
    const lines = partitions[p]!.slice(next[p], next[p]! + n)
    next[p]! += lines.length
    a.ingest(lines, NOW, out, p, next[p] === partitions[p]!.length)
    collect(p)
    a.closeIfIdle(NOW, out)
    collect(undefined)
  }
  for (const [pick, n] of order) {
    const left = partitions.map((lines, p) => (next[p]! < lines.length ? p : -1)).filter((p) => p >= 0)
    if (left.length === 0) break
    feed(left[pick % left.length]!, n)
  }
  partitions.forEach((lines, p) => {
    if (next[p]! < lines.length) feed(p, lines.length)
  })
  a.closeAll(out)
  collect(undefined)
  return { errors, rejected, rows, alerts, counters: { ...a.counters } }
}

const interleaving = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 12 })), { maxLength: 80 })

describe("Analysis over partitions, properties", () => {
  it("gives the same results for any interleaving, equal to the per-partition reference", () => {
    fc.assert(
      fc.property(fc.array(partitionLines, { minLength: 1, maxLength: 4 }), interleaving, interleaving, (partitions, o1, o2) => {
        const first = runInterleaved(partitions, o1)
        const second = runInterleaved(partitions, o2)
        const ref = analysePartitionsReference(partitions, referenceSettings(THRESHOLD))
        for (const run of [first, second]) {
          assert.deepStrictEqual(run.errors.map((e) => e.map((l) => JSON.stringify(JSON.parse(l)))), ref.errors)
          assert.deepStrictEqual(run.rejected, ref.rejectedLines)
          assert.deepStrictEqual(run.counters, ref.counters)
          // One final row per (window, status); closing order varies with the interleaving, the rows do not.
          const byCell = [...run.rows].sort((x, y) => x.window_start.localeCompare(y.window_start) || x.status - y.status)
          assert.deepStrictEqual(byCell, ref.rows)
          assert.deepStrictEqual(run.alerts.map((x) => x.key).sort(), ref.alerts.map((x) => `${x.window_start}|${x.status}`).sort())
          for (const alert of run.alerts) {
            const expected = ref.alerts.find((x) => `${x.window_start}|${x.status}` === alert.key)!
            assert.strictEqual(alert.error_count, THRESHOLD + 1)
            assert.isTrue(matchesOneOf(alert.unique_ips, expected.uniqueIps), `${alert.key}: ${alert.unique_ips} of ${expected.uniqueIps}`)
          }
        }
        assert.deepStrictEqual(
          [...first.rows].sort((x, y) => x.window_start.localeCompare(y.window_start) || x.status - y.status),
          [...second.rows].sort((x, y) => x.window_start.localeCompare(y.window_start) || x.status - y.status)
        )
      }),
      { numRuns: 300 }
    )
  })

  it("a snapshot taken between any two chunks resumes to the same results", () => {
    fc.assert(
      fc.property(fc.array(partitionLines, { minLength: 2, maxLength: 3 }), interleaving, fc.nat(), (partitions, order, cut) => {
        const straight = runInterleaved(partitions, order)
        const resumed = runInterleaved(partitions, order, cut % (order.length + 1))
        assert.deepStrictEqual(resumed, straight)
      }),
      { numRuns: 200 }
    )
  })
})
