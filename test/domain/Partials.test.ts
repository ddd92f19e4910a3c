/**
 * Production mode's two stages as pure code (src/domain/Partials.ts): stage 1
 * per input partition, partials through a simulated internal topic, stage 2
 * merging them, taken over by a new owner at any point, must give the rows
 * and alerts of the per-partition rule (test/analyzer/partitionReference.ts,
 * no src/ code), for any interleaving of the partitions' epochs.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { AnalysisOutput } from "../../src/domain/Analysis.ts"
import {
  decodeInternalMessage,
  decodeMergeCommit,
  decodePartitionCommit,
  encodeCell,
  encodeMergeCommit,
  encodePartitionCommit,
  encodeReport,
  internalPartitionOf,
  type MergeOutput,
  PartitionStage,
  WindowMerge
} from "../../src/domain/Partials.ts"
import type { WindowRow } from "../../src/domain/Window.ts"
import { analysePartitionsReference, matchesOneOf, prefixUnionSizes } from "../analyzer/partitionReference.ts"
import { NOW, referenceSettings, SETTINGS, T0 } from "../support/analysisSettings.ts"
import { partitionLines } from "../support/partitionLines.ts"

const THRESHOLD = 3
const iso = (ms: number): string => new Date(ms).toISOString()
const line = (ms: number, status: number, ip: string, url: string): string =>
  JSON.stringify({ timestamp: iso(ms), ip, method: "GET", url, status })

describe("internal messages and commit metadata", () => {
  it("round-trip, and anything else is not taken for loglens's", () => {
    const cell = { partition: 3, startMs: T0, status: 404, count: 7, hashes: [0, 1, 2 ** 32 - 1, 123456789], urls: ["/a", "/b c"] }
    assert.deepStrictEqual(decodeInternalMessage(encodeCell(cell)), { _tag: "cell", cell })
    const report = { partition: 1, maxEventTimeMs: T0 + 5, next: 42, idle: true }
    assert.deepStrictEqual(decodeInternalMessage(encodeReport(report)), { _tag: "report", report })
    assert.deepStrictEqual(decodeInternalMessage(encodeReport({ ...report, maxEventTimeMs: null, idle: false })), {
      _tag: "report",
      report: { ...report, maxEventTimeMs: null, idle: false }
    })
    for (const foreign of ["", "{}", "hello", "{\"c\":[1,2,3]}", "{\"c\":[1,2,3,4],\"h\":\"AAA\",\"u\":[]}", "{\"r\":[1,null,2,7]}"]) {
      assert.strictEqual(decodeInternalMessage(foreign), undefined, foreign)
    }
    const p = { token: "t-1", from: 1234, maxEventTimeMs: T0 }
    assert.deepStrictEqual(decodePartitionCommit(encodePartitionCommit(p)), p)
    assert.deepStrictEqual(decodePartitionCommit(encodePartitionCommit({ ...p, maxEventTimeMs: null })), { ...p, maxEventTimeMs: null })
    assert.strictEqual(decodePartitionCommit("loglens-epoch=4"), undefined)
    assert.strictEqual(decodePartitionCommit(null), undefined)
    const m = {
      token: "x",
      state: {
        epoch: 9,
        closedThroughMs: T0,
        replayFrom: 17,
        partitions: new Map([[0, { maxEventTimeMs: null, next: 0, idle: true }], [5, { maxEventTimeMs: T0 + 1, next: 99, idle: false }]])
      }
    }
    assert.deepStrictEqual(decodeMergeCommit(encodeMergeCommit(m)), m)
    assert.strictEqual(decodeMergeCommit(encodePartitionCommit(p)), undefined)
  })

  it("spreads windows over the internal partitions in turn, negative times included", () => {
    const w = SETTINGS.windowMs
    assert.deepStrictEqual([0, 1, 2, 3, -1].map((k) => internalPartitionOf(k * w, w, 3)), [0, 1, 2, 0, 2])
  })
})

// -- the two stages against the per-partition reference ----------------------------------------


/**
 * `plan` drives everything: which partition runs its next epoch (and how many lines it reads), when
 * stage 2 reads and closes, and when a new stage-2 owner takes over from the last commit.
 */
const plan = fc.array(
  fc.record({ pick: fc.nat(), lines: fc.integer({ min: 0, max: 12 }), merge: fc.boolean(), takeover: fc.integer({ min: 0, max: 9 }) }),
  { maxLength: 80 }
)

interface Step {
  readonly pick: number
  readonly lines: number
  readonly merge: boolean
  readonly takeover: number
}

const runStages = (partitions: ReadonlyArray<ReadonlyArray<string>>, steps: ReadonlyArray<Step>) => {
  const settings = { ...SETTINGS, threshold: THRESHOLD }
  const stages = partitions.map((_, p) => new PartitionStage(p, settings, null, NOW))
  const next = partitions.map(() => 0)
  const errors = partitions.map(() => [] as Array<string>)
  const rejected = partitions.map(() => [] as Array<string>)
  /** The internal topic: stage-1 epochs append whole, as their transactions commit. */
  const topic: Array<string> = []
  const mergeSettings = { windowMs: settings.windowMs, watermarkMs: settings.watermarkMs, threshold: THRESHOLD }
  let merge = new WindowMerge(mergeSettings)
  let read = 0
  let committed = { state: merge.state(0), next: 0 }
  const rows: Array<WindowRow> = []
  const alerts: Array<{ key: string; error_count: number; unique_ips: number }> = []
  let out: MergeOutput = { closed: [], alerts: [] }
  const ends = () => new Map(partitions.map((lines, p) => [p, { low: 0, high: lines.length }]))

  const epochOf = (p: number, n: number) => {
    const lines = partitions[p]!.slice(next[p], next[p]! + n)
    next[p]! += lines.length
    const o = new AnalysisOutput()
    stages[p]!.ingest(lines, NOW, o)
    errors[p]!.push(...o.errors)
    rejected[p]!.push(...o.rejected.map((r) => r.line))
    for (const cell of stages[p]!.takePartials()) topic.push(encodeCell(cell))
    const caughtUp = next[p] === partitions[p]!.length
    topic.push(encodeReport({ partition: p, maxEventTimeMs: stages[p]!.maxEventTimeMs, next: next[p]!, idle: caughtUp }))
  }
  /** Stage 2 reads what is there, closes, and commits: its rows and alerts count only then. */
  const mergeAndCommit = () => {
    for (; read < topic.length; read++) merge.apply(decodeInternalMessage(topic[read]!)!, read, NOW, out)
    merge.close(ends(), out)
    merge.epoch++
    committed = {
      state: decodeMergeCommit(encodeMergeCommit({ token: "t", state: merge.state(read) }))!.state,
      next: read
    }
    rows.push(...out.closed)
    for (const a of out.alerts) alerts.push({ key: `${a.window_start}|${a.status}`, error_count: a.error_count, unique_ips: a.unique_ips })
    out = { closed: [], alerts: [] }
  }
  /** A new owner: what the old one did since its commit is lost; it rebuilds from the commit. */
  const takeover = () => {
    merge = new WindowMerge(mergeSettings)
    merge.restore(committed.state)
    out = { closed: [], alerts: [] }
    for (read = committed.state.replayFrom; read < committed.next; read++) {
      merge.apply(decodeInternalMessage(topic[read]!)!, read, NOW, out, true)
    }
    assert.deepStrictEqual(out, { closed: [], alerts: [] }, "a replay fires nothing and closes nothing")
  }

  for (const step of steps) {
    const left = partitions.map((lines, p) => (next[p]! < lines.length ? p : -1)).filter((p) => p >= 0)
    if (left.length > 0) epochOf(left[step.pick % left.length]!, step.lines)
    if (step.takeover === 0) {
      // Read but not committed: lost with the old owner, redone by the new one.
      for (; read < topic.length; read++) merge.apply(decodeInternalMessage(topic[read]!)!, read, NOW, out)
      takeover()
    }
    if (step.merge) mergeAndCommit()
  }
  partitions.forEach((lines, p) => {
    if (next[p]! < lines.length || topic.length === 0) epochOf(p, lines.length)
  })
  mergeAndCommit()
  return { errors, rejected, rows, alerts, open: merge.openWindowCount }
}

/** The IPs of a cell's non-late errors, per partition in offset order: the reference's rule, restated. */
const cellIps = (partitions: ReadonlyArray<ReadonlyArray<string>>, key: string): Array<Array<string>> =>
  partitions.map((lines) => {
    let newest = -Infinity
    const ips: Array<string> = []
    for (const text of lines) {
      let record: { timestamp?: unknown; ip?: string; status?: number }
      try {
        record = JSON.parse(text)
      } catch {
        continue
      }
      if (typeof record.timestamp !== "string") continue
      const t = Date.parse(record.timestamp)
      newest = Math.max(newest, t)
      if ((record.status ?? 0) < 400) continue
      const start = Math.floor(t / SETTINGS.windowMs) * SETTINGS.windowMs
      if (start + SETTINGS.windowMs <= newest - SETTINGS.watermarkMs) continue
      if (`${iso(start)}|${record.status}` === key) ips.push(record.ip!)
    }
    return ips
  })

describe("the two stages, properties", () => {
  it("give the per-partition rule's rows and alerts for any interleaving and any takeover", () => {
    fc.assert(
      fc.property(fc.array(partitionLines, { minLength: 1, maxLength: 4 }), plan, (partitions, steps) => {
        const run = runStages(partitions, steps)
        const ref = analysePartitionsReference(partitions, referenceSettings(THRESHOLD))
        assert.deepStrictEqual(run.errors.map((e) => e.map((l) => JSON.stringify(JSON.parse(l)))), ref.errors)
        assert.deepStrictEqual(run.rejected, ref.rejectedLines)
        assert.strictEqual(run.open, 0, "every partition idle at the end: every window closed")
        const byCell = [...run.rows].sort((x, y) => x.window_start.localeCompare(y.window_start) || x.status - y.status)
        assert.deepStrictEqual(byCell, ref.rows)
        assert.deepStrictEqual(run.alerts.map((x) => x.key).sort(), ref.alerts.map((x) => `${x.window_start}|${x.status}`).sort())
        for (const alert of run.alerts) {
          assert.strictEqual(alert.error_count, THRESHOLD + 1)
          // Partials merge whole, so the alert may fire on more than threshold + 1 errors: its unique_ips
          // counts the IPs of some per-partition prefixes holding at least that many, capped at threshold + 1.
          const ips = cellIps(partitions, alert.key)
          const possible = new Set<number>()
          for (let total = THRESHOLD + 1; total <= ips.flat().length; total++) {
            for (const n of prefixUnionSizes(ips, total)) possible.add(Math.min(n, THRESHOLD + 1))
          }
          assert.isTrue(matchesOneOf(alert.unique_ips, [...possible]), `${alert.key}: ${alert.unique_ips} of ${[...possible]}`)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("merges IP hashes into the HyperLogLog one reader would build, dense ones included", () => {
    // 3 partitions, 9,000 distinct IPs in one cell: each partition alone goes past the exact limit.
    const settings = { ...SETTINGS, threshold: 1_000_000 }
    const partitions = [0, 1, 2].map((p) =>
      Array.from({ length: 6_000 }, (_, i) => line(T0 + 1_000, 404, `10.${p}.${i >> 8}.${i & 255}`, "/x"))
    )
    const merge = new WindowMerge({ windowMs: settings.windowMs, watermarkMs: settings.watermarkMs, threshold: settings.threshold })
    const out: MergeOutput = { closed: [], alerts: [] }
    let offset = 0
    partitions.forEach((lines, p) => {
      const stage = new PartitionStage(p, settings, null, NOW)
      for (let i = 0; i < lines.length; i += 1_000) {
        stage.ingest(lines.slice(i, i + 1_000), NOW, new AnalysisOutput())
        for (const cell of stage.takePartials()) merge.apply(decodeInternalMessage(encodeCell(cell))!, offset++, NOW, out)
      }
    })
    merge.close(new Map(), out)
    assert.strictEqual(out.closed.length, 1)
    assert.strictEqual(out.closed[0]!.error_count, 18_000)
    // 18,000 distinct IPs; the HyperLogLog's standard error is 0.41 %.
    assert.isTrue(Math.abs(out.closed[0]!.unique_ips - 18_000) < 18_000 * 0.02, String(out.closed[0]!.unique_ips))
  })

  it("asks for an early commit from its share of threshold + 1 to twice that, and at threshold + 1", () => {
    // Threshold 100 over 6 partitions: from 16 errors (6 × 16 = 96) to 34 (2 × 17), then at 101.
    const expected = [...Array.from({ length: 34 - 16 + 1 }, (_, i) => 16 + i), 101]
    const stage = new PartitionStage(0, { ...SETTINGS, threshold: 100 }, null, NOW, 6)
    const urgentAt: Array<number> = []
    for (let count = 1; count <= 160; count++) {
      stage.ingest([line(T0 + 1_000, 500, `10.0.0.${count}`, "/x")], NOW, new AnalysisOutput())
      if (stage.urgent) urgentAt.push(count)
      stage.takePartials()
    }
    assert.deepStrictEqual(urgentAt, expected)
  })
})
