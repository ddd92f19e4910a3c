import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { ALERT_MESSAGE, type Alert } from "../../src/domain/Alert.ts"
import { Analysis, AnalysisOutput, type AnalysisSettings } from "../../src/domain/Analysis.ts"
import type { RejectedLine } from "../../src/domain/RejectedLine.ts"
import { LogRecord } from "../../src/domain/LogRecord.ts"
import { parseEventTimeMs } from "../../src/domain/Timestamp.ts"
import type { WindowRow } from "../../src/domain/Window.ts"

import { NOW, SECOND, SETTINGS, T0 } from "../support/analysisSettings.ts"

/** The lateness counters when no error was late. */
const ON_TIME = { lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0 }

const iso = (ms: number): string => new Date(ms).toISOString()

interface Rec {
  readonly ms: number
  readonly status: number
  readonly ip?: string
  readonly url?: string
  readonly method?: string
}

const line = ({ ms, status, ip = "10.0.0.1", url = "/resource/1", method = "GET" }: Rec): string =>
  JSON.stringify({ timestamp: iso(ms), ip, method, url, status })

const errorsOf = (n: number, ms: number, status = 404): Array<string> =>
  Array.from({ length: n }, (_, i) => line({ ms, status, ip: `10.0.${i >> 8}.${i & 255}`, url: `/resource/${i % 3}` }))

/** Runs one ingest step with a fresh output and returns a copy of everything it produced. */
const ingest = (analysis: Analysis, lines: ReadonlyArray<string>, nowMs = NOW) => {
  const out = new AnalysisOutput()
  analysis.ingest(lines, nowMs, out)
  return copy(out)
}
const closeAll = (analysis: Analysis) => {
  const out = new AnalysisOutput()
  analysis.closeAll(out)
  return copy(out)
}
const closeIfIdle = (analysis: Analysis, nowMs: number) => {
  const out = new AnalysisOutput()
  const didClose = analysis.closeIfIdle(nowMs, out)
  return { didClose, ...copy(out) }
}
const copy = (out: AnalysisOutput) => ({
  errors: [...out.errors],
  rejected: [...out.rejected],
  closed: [...out.closed],
  alerts: [...out.alerts]
})

const row = (startMs: number, status: number, count: number, ips: number, urls: Array<string>, windowMs = 30 * SECOND): WindowRow => ({
  window_start: iso(startMs),
  window_end: iso(startMs + windowMs),
  status,
  error_count: count,
  unique_ips: ips,
  urls
})

describe("Analysis", () => {
  describe("windows", () => {
    it("are tumbling and aligned to the epoch", () => {
      // A minute of allowed lateness keeps all three windows open until closeAll.
      const analysis = new Analysis({ ...SETTINGS, watermarkMs: 60_000 })
      ingest(analysis, [
        line({ ms: T0, status: 404, url: "/b" }),
        line({ ms: T0 + 29_999, status: 404, url: "/a" }),
        line({ ms: T0 + 30_000, status: 404, url: "/c" }),
        line({ ms: T0 - 1, status: 404, url: "/d" })
      ])
      const { closed } = closeAll(analysis)
      assert.deepStrictEqual(closed, [
        row(T0 - 30_000, 404, 1, 1, ["/d"]),
        row(T0, 404, 2, 1, ["/a", "/b"]),
        row(T0 + 30_000, 404, 1, 1, ["/c"])
      ])
    })

    it("use the configured size, aligned to the epoch rather than to the first record", () => {
      const windowMs = 7 * SECOND
      const analysis = new Analysis({ ...SETTINGS, windowMs })
      const event = T0 + 12_345
      ingest(analysis, [line({ ms: event, status: 500 })])
      const start = event - (event % windowMs)
      assert.deepStrictEqual(closeAll(analysis).closed, [row(start, 500, 1, 1, ["/resource/1"], windowMs)])
    })

    it("write one row per status, statuses in ascending order, with ISO-8601 millisecond timestamps", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [
        line({ ms: T0 + 1_000, status: 503 }),
        line({ ms: T0 + 2_000, status: 404 }),
        line({ ms: T0 + 3_000, status: 500 }),
        line({ ms: T0 + 4_000, status: 404 })
      ])
      const { closed } = closeAll(analysis)
      assert.deepStrictEqual(closed.map((r) => [r.status, r.error_count]), [[404, 2], [500, 1], [503, 1]])
      for (const r of closed) {
        assert.strictEqual(r.window_start, "2025-05-30T18:52:30.000Z")
        assert.strictEqual(r.window_end, "2025-05-30T18:53:00.000Z")
        assert.match(r.window_start, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
      }
    })

    it("list distinct URLs sorted, and count distinct IPs", () => {
      const analysis = new Analysis(SETTINGS)
      const cases: Array<[string, string]> = [
        ["1.1.1.1", "/z"],
        ["1.1.1.2", "/a"],
        ["1.1.1.1", "/m"],
        ["1.1.1.3", "/a"],
        ["1.1.1.2", "/z"],
        ["1.1.1.1", "/a"]
      ]
      ingest(analysis, cases.map(([ip, url], i) => line({ ms: T0 + i, status: 404, ip, url })))
      assert.deepStrictEqual(closeAll(analysis).closed, [row(T0, 404, 6, 3, ["/a", "/m", "/z"])])
    })

    it("do not count 2xx and 3xx records", () => {
      const analysis = new Analysis(SETTINGS)
      const out = ingest(analysis, [line({ ms: T0, status: 200 }), line({ ms: T0, status: 302 }), line({ ms: T0, status: 399 }), line({ ms: T0, status: 400 })])
      assert.deepStrictEqual(out.errors, [line({ ms: T0, status: 400 })])
      assert.deepStrictEqual(closeAll(analysis).closed, [row(T0, 400, 1, 1, ["/resource/1"])])
      assert.deepStrictEqual({ ...analysis.counters }, { lines: 4, valid: 4, errors: 1, rejected: 0, late: 0, ...ON_TIME })
    })
  })

  describe("watermark", () => {
    it("is the largest valid event time, 200s included, minus the allowed lateness", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 5_000, status: 404 }), line({ ms: T0 + 45_000, status: 200 }), line({ ms: T0 + 20_000, status: 200 })])
      assert.strictEqual(analysis.watermarkMs, T0 + 35_000)
      // Rejected lines and too-far-future records never move it.
      ingest(analysis, ["{\"timestamp\":\"2999-01-01T00:00:00Z\"}", line({ ms: NOW + 3_600 * SECOND + 1, status: 200 })])
      assert.strictEqual(analysis.watermarkMs, T0 + 35_000)
    })

    it("closes a window exactly when it reaches the window end, not a millisecond before", () => {
      const analysis = new Analysis(SETTINGS)
      assert.deepStrictEqual(ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })]).closed, [])
      // Watermark T0 + 29.999 s: still open.
      assert.deepStrictEqual(ingest(analysis, [line({ ms: T0 + 39_999, status: 200 })]).closed, [])
      assert.strictEqual(analysis.openWindowCount, 1)
      // Watermark T0 + 30 s = window end: closed, by a 200.
      assert.deepStrictEqual(ingest(analysis, [line({ ms: T0 + 40_000, status: 200 })]).closed, [row(T0, 404, 1, 1, ["/resource/1"])])
      assert.strictEqual(analysis.openWindowCount, 0)
      // Closed once only.
      assert.deepStrictEqual(ingest(analysis, [line({ ms: T0 + 50_000, status: 200 })]).closed, [])
      assert.deepStrictEqual(closeAll(analysis).closed, [])
    })

    it("with zero lateness closes a window as soon as an event reaches its end", () => {
      const analysis = new Analysis({ ...SETTINGS, watermarkMs: 0 })
      ingest(analysis, [line({ ms: T0 + 29_999, status: 404 })])
      assert.strictEqual(analysis.openWindowCount, 1)
      assert.deepStrictEqual(ingest(analysis, [line({ ms: T0 + 30_000, status: 200 })]).closed, [row(T0, 404, 1, 1, ["/resource/1"])])
    })

    it("counts out-of-order errors that are still within the watermark", () => {
      const analysis = new Analysis(SETTINGS)
      const out = ingest(analysis, [
        line({ ms: T0 + 35_000, status: 404 }),
        line({ ms: T0 + 28_000, status: 404 }), // watermark T0 + 25 s: [T0, T0+30) still open
        line({ ms: T0 + 1_000, status: 404 })
      ])
      assert.strictEqual(out.errors.length, 3)
      assert.strictEqual(analysis.counters.late, 0)
      assert.deepStrictEqual(closeAll(analysis).closed, [row(T0, 404, 2, 1, ["/resource/1"]), row(T0 + 30_000, 404, 1, 1, ["/resource/1"])])
    })
  })

  describe("late errors", () => {
    it("are stored but counted in no window once their window has closed", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404, url: "/on-time" })])
      const closing = ingest(analysis, [line({ ms: T0 + 40_000, status: 200 })])
      assert.deepStrictEqual(closing.closed, [row(T0, 404, 1, 1, ["/on-time"])])

      const late = line({ ms: T0 + 10_000, status: 404, url: "/late" })
      const out = ingest(analysis, [late])
      assert.deepStrictEqual(out.errors, [late])
      assert.deepStrictEqual(out.closed, [])
      assert.strictEqual(analysis.counters.late, 1)
      assert.strictEqual(analysis.counters.errors, 2)
      assert.deepStrictEqual(closeAll(analysis).closed, [])
      assert.deepStrictEqual(analysis.takeUpdatedRows().map((r) => r.urls), [["/on-time"]])
    })

    it("include errors read after a record in the same batch that moved the watermark past their window", () => {
      const analysis = new Analysis(SETTINGS)
      const out = ingest(analysis, [
        line({ ms: T0 + 1_000, status: 404 }),
        line({ ms: T0 + 40_000, status: 200 }),
        line({ ms: T0 + 2_000, status: 404 })
      ])
      assert.strictEqual(out.errors.length, 2)
      assert.deepStrictEqual(out.closed, [row(T0, 404, 1, 1, ["/resource/1"])])
      assert.strictEqual(analysis.counters.late, 1)
    })

    it("do not alert, however many there are", () => {
      const analysis = new Analysis({ ...SETTINGS, threshold: 2 })
      ingest(analysis, [line({ ms: T0 + 45_000, status: 200 })])
      const out = ingest(analysis, errorsOf(5, T0 + 1_000))
      assert.strictEqual(out.errors.length, 5)
      assert.deepStrictEqual(out.alerts, [])
      assert.strictEqual(analysis.counters.late, 5)
    })
  })

  describe("how late", () => {
    // Newest event time T0+70 s; W0 = [T0, T0+30 s) closed by the watermark. Hand-computed:
    // the 404 at T0+5 s trails the newest by 65 s, and needs W > T0+70 s - (T0+30 s) = 40 s.
    const lines = [
      line({ ms: T0 + 1_000, status: 404 }),
      line({ ms: T0 + 40_000, status: 200 }),
      line({ ms: T0 + 10_000, status: 404 }), // late: 30 s behind T0+40 s, needs W ≥ 10.001 s
      line({ ms: T0 + 70_000, status: 200 }),
      line({ ms: T0 + 5_000, status: 500 }) //   late: 65 s behind T0+70 s, needs W ≥ 40.001 s
    ]

    it("keeps the most a late error trailed the newest event time, and the --watermark that counts them all", () => {
      const analysis = new Analysis(SETTINGS)
      for (const l of lines) ingest(analysis, [l])
      const { late, lateBehindMs, lateWatermarkMs, lateAfterClose } = analysis.counters
      assert.deepStrictEqual({ late, lateBehindMs, lateWatermarkMs, lateAfterClose }, {
        late: 2, lateBehindMs: 65_000, lateWatermarkMs: 40_001, lateAfterClose: 0
      })
      // The figure means what it says: 40.001 s counts both, a millisecond less does not.
      const replay = (watermarkMs: number) => {
        const again = new Analysis({ ...SETTINGS, watermarkMs })
        ingest(again, lines)
        return again.counters.late
      }
      assert.strictEqual(replay(40_001), 0)
      assert.strictEqual(replay(40_000), 1)
    })

    it("survives a snapshot and restore", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, lines)
      const restored = new Analysis(SETTINGS)
      restored.restore(JSON.parse(JSON.stringify(analysis.snapshot())))
      assert.deepStrictEqual(restored.counters, analysis.counters)
      assert.strictEqual(restored.counters.lateWatermarkMs, 40_001)
    })

    it("counts errors for windows an idle close shut apart from those the watermark made late", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })], NOW)
      assert.isTrue(closeIfIdle(analysis, NOW + SETTINGS.idleTimeoutMs).didClose)
      ingest(analysis, [line({ ms: T0 + 2_000, status: 404 })], NOW + SETTINGS.idleTimeoutMs + 1)
      const { late, lateBehindMs, lateWatermarkMs, lateAfterClose } = analysis.counters
      assert.deepStrictEqual({ late, lateBehindMs, lateWatermarkMs, lateAfterClose }, {
        late: 1, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 1
      })
    })
  })

  describe("alerts", () => {
    const expectedAlert = (count: number, ips: number, nowMs: number, status = 404, startMs = T0): Alert => ({
      window_start: iso(startMs),
      window_end: iso(startMs + 30_000),
      status,
      error_count: count,
      unique_ips: ips,
      alert: "ALERTE : Nombre d'erreurs élevé",
      alert_timestamp: iso(nowMs)
    })

    it("do not fire at exactly the threshold", () => {
      const analysis = new Analysis(SETTINGS)
      assert.deepStrictEqual(ingest(analysis, errorsOf(100, T0 + 1_000)).alerts, [])
      assert.deepStrictEqual(closeAll(analysis).alerts, [])
    })

    it("fire once, with the count at firing time, when the count first exceeds the threshold", () => {
      const analysis = new Analysis(SETTINGS)
      const now = T0 + 65_123
      const out = ingest(analysis, errorsOf(101, T0 + 1_000), now)
      assert.deepStrictEqual(out.alerts, [expectedAlert(101, 101, now)])
      assert.strictEqual(out.alerts[0]!.alert, ALERT_MESSAGE)
      assert.strictEqual(out.alerts[0]!.alert_timestamp, "2025-05-30T18:53:35.123Z")
    })

    it("fire only once even at 150 errors, in one batch or many", () => {
      const inOne = new Analysis(SETTINGS)
      assert.strictEqual(ingest(inOne, errorsOf(150, T0 + 1_000)).alerts.length, 1)

      const inMany = new Analysis(SETTINGS)
      const lines = errorsOf(150, T0 + 1_000)
      const alerts: Array<Alert> = []
      for (let i = 0; i < lines.length; i += 7) alerts.push(...ingest(inMany, lines.slice(i, i + 7), NOW + i).alerts)
      // Batches start at 0, 7, …, 98: the 101st error is in the batch starting at 98.
      assert.deepStrictEqual(alerts, [expectedAlert(101, 101, NOW + 98)])
      assert.deepStrictEqual(closeAll(inMany).closed, [row(T0, 404, 150, 150, ["/resource/0", "/resource/1", "/resource/2"])])
    })

    it("fire in the batch that crosses the threshold, with that batch's clock", () => {
      const analysis = new Analysis(SETTINGS)
      assert.deepStrictEqual(ingest(analysis, errorsOf(100, T0 + 1_000), NOW).alerts, [])
      const out = ingest(analysis, [line({ ms: T0 + 2_000, status: 404, ip: "10.0.0.0" })], NOW + 5_000)
      // 10.0.0.0 was already among the first 100 IPs.
      assert.deepStrictEqual(out.alerts, [expectedAlert(101, 100, NOW + 5_000)])
    })

    it("are independent per (window, status)", () => {
      const analysis = new Analysis({ ...SETTINGS, threshold: 2 })
      const out = ingest(analysis, [
        ...errorsOf(3, T0 + 1_000, 404),
        ...errorsOf(2, T0 + 1_000, 500),
        ...errorsOf(3, T0 + 31_000, 404),
        ...errorsOf(3, T0 + 2_000, 503)
      ])
      assert.deepStrictEqual(out.alerts.map((a) => [a.window_start, a.status, a.error_count]), [
        [iso(T0), 404, 3],
        [iso(T0 + 30_000), 404, 3],
        [iso(T0), 503, 3]
      ])
      const more = ingest(analysis, [...errorsOf(1, T0 + 3_000, 500), ...errorsOf(5, T0 + 3_000, 404)])
      assert.deepStrictEqual(more.alerts.map((a) => [a.window_start, a.status, a.error_count]), [[iso(T0), 500, 3]])
    })
  })

  describe("idle input", () => {
    const IDLE = SETTINGS.idleTimeoutMs

    it("closes every open window only once the idle timeout has passed without a valid record", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 }), line({ ms: T0 + 31_000, status: 500 })], NOW)
      const early = closeIfIdle(analysis, NOW + IDLE - 1)
      assert.isFalse(early.didClose)
      assert.deepStrictEqual(early.closed, [])
      assert.strictEqual(analysis.openWindowCount, 2)

      const idle = closeIfIdle(analysis, NOW + IDLE)
      assert.isTrue(idle.didClose)
      assert.deepStrictEqual(idle.closed, [row(T0, 404, 1, 1, ["/resource/1"]), row(T0 + 30_000, 500, 1, 1, ["/resource/1"])])
      assert.strictEqual(analysis.openWindowCount, 0)
      assert.isFalse(closeIfIdle(analysis, NOW + 10 * IDLE).didClose)
    })

    it("restarts the idle clock on any valid record, 200s included, but not on rejected lines", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })], NOW)
      ingest(analysis, [line({ ms: T0 + 2_000, status: 200 })], NOW + 20_000)
      ingest(analysis, ["not json", "", "   "], NOW + 40_000)
      assert.isFalse(closeIfIdle(analysis, NOW + 20_000 + IDLE - 1).didClose)
      assert.isTrue(closeIfIdle(analysis, NOW + 20_000 + IDLE).didClose)
    })

    it("makes a later record for a closed window late, while later windows still count", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })], NOW)
      assert.isTrue(closeIfIdle(analysis, NOW + IDLE).didClose)

      const out = ingest(analysis, [line({ ms: T0 + 2_000, status: 404 }), line({ ms: T0 + 31_000, status: 404 })], NOW + IDLE + 1)
      assert.strictEqual(out.errors.length, 2)
      assert.strictEqual(analysis.counters.late, 1)
      assert.deepStrictEqual(closeAll(analysis).closed, [row(T0 + 30_000, 404, 1, 1, ["/resource/1"])])
    })

    it("does nothing when no window is open", () => {
      const analysis = new Analysis(SETTINGS)
      assert.isFalse(closeIfIdle(analysis, NOW).didClose)
      ingest(analysis, [line({ ms: T0, status: 200 })], NOW)
      assert.isFalse(closeIfIdle(analysis, NOW + 10 * IDLE).didClose)
    })
  })

  describe("closeAll", () => {
    it("closes every open window, oldest first, and later errors for them are late", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [
        line({ ms: T0 + 95_000, status: 500 }),
        line({ ms: T0 + 61_000, status: 404 }),
        line({ ms: T0 + 89_000, status: 404 })
      ])
      assert.strictEqual(analysis.openWindowCount, 2)
      const { closed } = closeAll(analysis)
      assert.deepStrictEqual(closed, [row(T0 + 60_000, 404, 2, 1, ["/resource/1"]), row(T0 + 90_000, 500, 1, 1, ["/resource/1"])])
      assert.strictEqual(analysis.openWindowCount, 0)
      ingest(analysis, [line({ ms: T0 + 100_000, status: 404 })])
      assert.strictEqual(analysis.counters.late, 1)
      assert.deepStrictEqual(closeAll(analysis).closed, [])
    })
  })

  describe("line handling", () => {
    it("rejects records more than max-future ahead of the wall clock, with a reason, without moving the watermark", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })])
      const poisoned = line({ ms: Date.UTC(2999, 0, 1), status: 404 })
      const edge = line({ ms: NOW + SETTINGS.maxFutureMs, status: 200 })
      const beyond = line({ ms: NOW + SETTINGS.maxFutureMs + 1, status: 500 })
      const out = ingest(analysis, [poisoned, beyond, edge])
      assert.deepStrictEqual(out.rejected.map((r) => r.line), [poisoned, beyond])
      for (const r of out.rejected) assert.match(r.reason, /future/)
      assert.deepStrictEqual(out.errors, [])
      assert.deepStrictEqual({ ...analysis.counters }, { lines: 4, valid: 2, errors: 1, rejected: 2, late: 0, ...ON_TIME })
      // The record exactly at the limit is valid and moves the watermark.
      assert.strictEqual(analysis.watermarkMs, NOW + SETTINGS.maxFutureMs - SETTINGS.watermarkMs)
    })

    it("does not let a year-2999 record close the open windows", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 })], T0 + 5_000)
      assert.deepStrictEqual(ingest(analysis, [line({ ms: Date.UTC(2999, 0, 1), status: 200 })], T0 + 5_000).closed, [])
      assert.strictEqual(analysis.openWindowCount, 1)
    })

    it("skips blank and whitespace-only lines without counting them", () => {
      const analysis = new Analysis(SETTINGS)
      const out = ingest(analysis, ["", " ", "\t", "  \t  ", "\r", " \r"])
      assert.deepStrictEqual(out.rejected, [])
      assert.deepStrictEqual({ ...analysis.counters }, { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, ...ON_TIME })
    })

    it("drops a trailing carriage return (CRLF input), in JSON and in CSV", () => {
      const json = new Analysis(SETTINGS)
      const jsonLine = line({ ms: T0 + 1_000, status: 404 })
      const out = ingest(json, [`${jsonLine}\r`, "not json\r"])
      assert.deepStrictEqual(out.errors, [jsonLine])
      assert.deepStrictEqual(out.rejected.map((r) => r.line), ["not json"])

      const csv = new Analysis({ ...SETTINGS, format: "csv" })
      const csvOut = ingest(csv, [
        "timestamp,ip,method,url,status\r",
        "2025-05-30T18:52:31.000Z,10.0.0.1,GET,/resource/1,404\r",
        "2025-05-30T18:52:32.000Z,10.0.0.2,GET,/resource/2,200\r",
        "\r"
      ])
      assert.deepStrictEqual(csvOut.rejected, [])
      assert.deepStrictEqual(csvOut.errors, [
        JSON.stringify({ timestamp: "2025-05-30T18:52:31.000Z", ip: "10.0.0.1", method: "GET", url: "/resource/1", status: 404 })
      ])
      assert.strictEqual(csv.counters.valid, 2)
      assert.strictEqual(csv.counters.rejected, 0)
    })

    it("rejects malformed lines with a reason, counts them, and carries on", () => {
      const analysis = new Analysis(SETTINGS)
      const bad = ["{\"timestamp\":", "[1,2]", "null", "2025-05-30T18:52:31Z,1.1.1.1,GET,/x,404", "{\"timestamp\":\"2025-02-30T00:00:00Z\",\"ip\":\"a\",\"method\":\"GET\",\"url\":\"/\",\"status\":404}", "\u0000"]
      const good = line({ ms: T0 + 1_000, status: 500 })
      const out = ingest(analysis, [...bad, good])
      assert.deepStrictEqual(out.rejected.map((r) => r.line), bad)
      for (const r of out.rejected) assert.isAbove(r.reason.length, 0)
      assert.deepStrictEqual(out.errors, [good])
      assert.deepStrictEqual({ ...analysis.counters }, { lines: 7, valid: 1, errors: 1, rejected: 6, late: 0, ...ON_TIME })
    })

    it("keeps at most 1 KiB of a rejected line", () => {
      const analysis = new Analysis(SETTINGS)
      const huge = "x".repeat(10_000)
      const [rejected] = ingest(analysis, [huge]).rejected
      assert.isTrue(huge.startsWith(rejected!.line.slice(0, 1024)))
      assert.isAtMost(rejected!.line.length, 1025)
    })

    it("writes each error as its five fields, in order, without extra fields", () => {
      const analysis = new Analysis(SETTINGS)
      const out = ingest(analysis, [
        "{\"extra\":1,\"status\":404,\"url\":\"/u\",\"method\":\"PUT\",\"ip\":\"9.9.9.9\",\"timestamp\":\"2025-05-30T20:52:31.123456+02:00\"}"
      ])
      assert.deepStrictEqual(out.errors, [
        "{\"timestamp\":\"2025-05-30T20:52:31.123456+02:00\",\"ip\":\"9.9.9.9\",\"method\":\"PUT\",\"url\":\"/u\",\"status\":404}"
      ])
      // The event time is the UTC instant: 18:52:31.123Z, in the window starting 18:52:30.
      assert.deepStrictEqual(closeAll(analysis).closed, [row(T0, 404, 1, 1, ["/u"])])
    })

    it("counts rejections found before decoding", () => {
      const analysis = new Analysis(SETTINGS)
      const out = new AnalysisOutput()
      const raw: Array<RejectedLine> = [{ line: "\ufffd\ufffd", reason: "invalid UTF-8" }, { line: "xxxx", reason: "line longer than 1048576 bytes" }]
      analysis.rejectRaw(raw, out)
      assert.deepStrictEqual(out.rejected, raw)
      assert.deepStrictEqual({ ...analysis.counters }, { lines: 2, valid: 0, errors: 0, rejected: 2, late: 0, ...ON_TIME })
    })
  })

  describe("takeUpdatedRows", () => {
    it("returns the current rows of the cells touched since the last call, oldest window first", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [
        line({ ms: T0 + 31_000, status: 404 }),
        line({ ms: T0 + 1_000, status: 500 }),
        line({ ms: T0 + 2_000, status: 404, ip: "10.0.0.2", url: "/b" })
      ])
      assert.deepStrictEqual(analysis.takeUpdatedRows(), [
        row(T0, 404, 1, 1, ["/b"]),
        row(T0, 500, 1, 1, ["/resource/1"]),
        row(T0 + 30_000, 404, 1, 1, ["/resource/1"])
      ])
      assert.deepStrictEqual(analysis.takeUpdatedRows(), [])
      // A 200 touches no cell; one more 404 touches one.
      ingest(analysis, [line({ ms: T0 + 3_000, status: 200 }), line({ ms: T0 + 4_000, status: 404, url: "/a" })])
      assert.deepStrictEqual(analysis.takeUpdatedRows(), [row(T0, 404, 2, 2, ["/a", "/b"])])
    })

    it("still reports a cell that closed since the last call", () => {
      const analysis = new Analysis(SETTINGS)
      ingest(analysis, [line({ ms: T0 + 1_000, status: 404 }), line({ ms: T0 + 45_000, status: 200 })])
      assert.strictEqual(analysis.openWindowCount, 0)
      assert.deepStrictEqual(analysis.takeUpdatedRows(), [row(T0, 404, 1, 1, ["/resource/1"])])
    })
  })

  describe("snapshot and restore", () => {
    it("resume exactly where the snapshot was taken, HyperLogLog registers and alert flags included", () => {
      const settings = { ...SETTINGS, threshold: 5_000 }
      const ips = Array.from({ length: 6_000 }, (_, i) => `172.16.${i >> 8}.${i & 255}`)
      const first = ips.slice(0, 4_500).map((ip) => line({ ms: T0 + 1_000, status: 404, ip }))
      const second = ips.slice(1_500).map((ip) => line({ ms: T0 + 2_000, status: 404, ip }))
      const small = [line({ ms: T0 + 3_000, status: 500, ip: "1.1.1.1" })]

      const straight = new Analysis(settings)
      const straightOut = [ingest(straight, [...first, ...small]), ingest(straight, second), closeAll(straight)]

      const before = new Analysis(settings)
      const beforeOut = ingest(before, [...first, ...small])
      const snapshot = JSON.parse(JSON.stringify(before.snapshot()))
      const after = new Analysis(settings)
      after.restore(snapshot)
      const afterOut = [ingest(after, second), closeAll(after)]

      assert.deepStrictEqual([beforeOut, ...afterOut], straightOut)
      assert.deepStrictEqual(after.counters, straight.counters)
      const [big] = straightOut[2]!.closed
      assert.strictEqual(big!.error_count, 9_000)
      assert.isAtMost(Math.abs(big!.unique_ips - 6_000) / 6_000, 0.02)
      assert.strictEqual(straightOut[1]!.alerts.length, 1)
    })

    it("never alerts twice for a cell that alerted before the snapshot", () => {
      const settings = { ...SETTINGS, threshold: 2 }
      const before = new Analysis(settings)
      assert.strictEqual(ingest(before, errorsOf(3, T0 + 1_000)).alerts.length, 1)
      const after = new Analysis(settings)
      after.restore(JSON.parse(JSON.stringify(before.snapshot())))
      assert.deepStrictEqual(ingest(after, errorsOf(3, T0 + 2_000)).alerts, [])
      assert.deepStrictEqual(closeAll(after).closed.map((r) => r.error_count), [6])
    })

    it("keep the watermark and late decisions", () => {
      const before = new Analysis(SETTINGS)
      ingest(before, [line({ ms: T0 + 1_000, status: 404 }), line({ ms: T0 + 45_000, status: 200 })])
      const after = new Analysis(SETTINGS)
      after.restore(JSON.parse(JSON.stringify(before.snapshot())))
      assert.strictEqual(after.watermarkMs, T0 + 35_000)
      ingest(after, [line({ ms: T0 + 2_000, status: 404 })])
      assert.strictEqual(after.counters.late, 1)
    })

    it("of a fresh analysis restores a fresh analysis", () => {
      const after = new Analysis(SETTINGS)
      after.restore(JSON.parse(JSON.stringify(new Analysis(SETTINGS).snapshot())))
      assert.deepStrictEqual({ ...after.counters }, { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, ...ON_TIME })
      ingest(after, [line({ ms: T0 - 1_000_000, status: 404 })])
      assert.strictEqual(after.counters.late, 0)
      assert.strictEqual(after.openWindowCount, 1)
    })
  })
})

// -- properties against an independent model -----------------------------------

/** The README's rules ("What the analyzer computes"), written out plainly, record by record. */
class Model {
  readonly counters = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, ...ON_TIME }
  private maxEventMs = -Infinity
  private closedThroughMs = -Infinity
  private readonly cells = new Map<string, { startMs: number; status: number; count: number; ips: Set<string>; urls: Set<string>; alerted: boolean }>()

  constructor(readonly settings: AnalysisSettings) {}

  ingest(lines: ReadonlyArray<string>, nowMs: number) {
    const { windowMs, watermarkMs, threshold, maxFutureMs } = this.settings
    const out = { errors: [] as Array<string>, rejected: [] as Array<string>, closed: [] as Array<WindowRow>, alerts: [] as Array<Alert> }
    for (const raw of lines) {
      const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw
      if (text.trim() === "") continue
      this.counters.lines++
      const record = decodeIndependently(text)
      const eventMs = record === undefined ? undefined : parseEventTimeMs(record.timestamp)!
      if (record === undefined || eventMs! > nowMs + maxFutureMs) {
        this.counters.rejected++
        out.rejected.push(text)
        continue
      }
      this.counters.valid++
      this.maxEventMs = Math.max(this.maxEventMs, eventMs!)
      if (record.status < 400) continue
      this.counters.errors++
      out.errors.push(JSON.stringify({ timestamp: record.timestamp, ip: record.ip, method: record.method, url: record.url, status: record.status }))
      const startMs = Math.floor(eventMs! / windowMs) * windowMs
      if (startMs + windowMs <= Math.max(this.closedThroughMs, this.maxEventMs - watermarkMs)) {
        this.counters.late++
        this.counters.lateBehindMs = Math.max(this.counters.lateBehindMs, this.maxEventMs - eventMs!)
        if (startMs + windowMs <= this.maxEventMs - watermarkMs) {
          this.counters.lateWatermarkMs = Math.max(this.counters.lateWatermarkMs, this.maxEventMs - (startMs + windowMs) + 1)
        } else {
          this.counters.lateAfterClose++
        }
        continue
      }
      const key = `${startMs}/${record.status}`
      let cell = this.cells.get(key)
      if (cell === undefined) {
        cell = { startMs, status: record.status, count: 0, ips: new Set(), urls: new Set(), alerted: false }
        this.cells.set(key, cell)
      }
      cell.count++
      cell.ips.add(record.ip)
      cell.urls.add(record.url)
      if (cell.count > threshold && !cell.alerted) {
        cell.alerted = true
        out.alerts.push({
          window_start: iso(startMs),
          window_end: iso(startMs + windowMs),
          status: record.status,
          error_count: cell.count,
          unique_ips: cell.ips.size,
          alert: "ALERTE : Nombre d'erreurs élevé",
          alert_timestamp: iso(nowMs)
        })
      }
    }
    this.closeThrough(Math.max(this.closedThroughMs, this.maxEventMs - watermarkMs), out.closed)
    return out
  }

  closeAll() {
    const closed: Array<WindowRow> = []
    let through = this.closedThroughMs
    for (const cell of this.cells.values()) through = Math.max(through, cell.startMs + this.settings.windowMs)
    this.closeThrough(through, closed)
    return closed
  }

  private closeThrough(throughMs: number, closed: Array<WindowRow>) {
    this.closedThroughMs = Math.max(this.closedThroughMs, throughMs)
    const closing = [...this.cells.entries()]
      .filter(([, c]) => c.startMs + this.settings.windowMs <= this.closedThroughMs)
      .sort(([, a], [, b]) => a.startMs - b.startMs || a.status - b.status)
    for (const [key, c] of closing) {
      this.cells.delete(key)
      closed.push(row(c.startMs, c.status, c.count, c.ips.size, [...c.urls].sort(), this.settings.windowMs))
    }
  }
}

const decodeRecord = Schema.decodeUnknownResult(LogRecord)
const decodeIndependently = (text: string): LogRecord | undefined => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const result = decodeRecord(value)
  return Result.isSuccess(result) ? result.success : undefined
}

/** Valid records around T0 (out of order, some late, some too far ahead), plus malformed and blank lines. */
const eventLine = (nowMs: number): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        // Often exactly on a 5 s boundary, where windows and watermarks meet.
        offset: fc.oneof(fc.integer({ min: 0, max: 240_000 }), fc.integer({ min: 0, max: 48 }).map((k) => k * 5_000)),
        status: fc.constantFrom(200, 200, 404, 404, 500, 503),
        ip: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.1"),
        url: fc.constantFrom("/a", "/b", "/c", "/resource/1"),
        crlf: fc.oneof({ weight: 5, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constant("\r") }),
        offsetZone: fc.boolean()
      }).map(({ offset, status, ip, url, crlf, offsetZone }) => {
        const ms = T0 + offset
        // Sometimes the same instant written with a +02:00 offset and microseconds.
        const timestamp = offsetZone
          ? `${new Date(ms + 2 * 3_600_000).toISOString().slice(0, 23)}456+02:00`
          : iso(ms)
        return JSON.stringify({ timestamp, ip, method: "GET", url, status }) + crlf
      })
    },
    { weight: 1, arbitrary: fc.constant(line({ ms: nowMs + 120_000, status: 404 })) },
    { weight: 1, arbitrary: fc.constantFrom("", "  ", "\r", "garbage", "{\"status\":404}", "[]", "\u0000") }
  )

const batches = fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 12 }).chain((sizes) =>
  fc.tuple(...sizes.map((size, i) => fc.array(eventLine(T0 + 60_000 + i * 10_000), { minLength: size, maxLength: size })))
).map((lineBatches) => lineBatches.map((lines, i) => ({ lines, nowMs: T0 + 60_000 + i * 10_000 })))

const settingsArb = fc.record({
  format: fc.constant("json" as const),
  windowMs: fc.constantFrom(10_000, 30_000, 60_000),
  watermarkMs: fc.constantFrom(0, 5_000, 10_000, 45_000),
  threshold: fc.constantFrom(1, 2, 3, 5),
  idleTimeoutMs: fc.constant(30_000),
  maxFutureMs: fc.constantFrom(60_000, 3_600_000)
})

type Batch = { readonly lines: ReadonlyArray<string>; readonly nowMs: number }

const runAnalysis = (analysis: Analysis, input: ReadonlyArray<Batch>) => {
  const all = { errors: [] as Array<string>, rejected: [] as Array<string>, closed: [] as Array<WindowRow>, alerts: [] as Array<Alert> }
  for (const { lines, nowMs } of input) {
    const out = ingest(analysis, lines, nowMs)
    all.errors.push(...out.errors)
    all.rejected.push(...out.rejected.map((r) => r.line))
    all.closed.push(...out.closed)
    all.alerts.push(...out.alerts)
  }
  return all
}

describe("Analysis properties", () => {
  it("matches an independent model of the rules, batch by batch", () => {
    const seen = { late: 0, alerts: 0, closedInIngest: 0, rejected: 0, errors: 0 }
    fc.assert(
      fc.property(settingsArb, batches, (settings, input) => {
        const analysis = new Analysis(settings)
        const model = new Model(settings)
        for (const { lines, nowMs } of input) {
          const actual = ingest(analysis, lines, nowMs)
          const expected = model.ingest(lines, nowMs)
          seen.alerts += expected.alerts.length
          seen.closedInIngest += expected.closed.length
          seen.rejected += expected.rejected.length
          seen.errors += expected.errors.length
          assert.deepStrictEqual(actual.errors, expected.errors)
          assert.deepStrictEqual(actual.rejected.map((r) => r.line), expected.rejected)
          for (const r of actual.rejected) assert.isAbove(r.reason.length, 0)
          assert.deepStrictEqual(actual.closed, expected.closed)
          assert.deepStrictEqual(actual.alerts, expected.alerts)
          assert.deepStrictEqual({ ...analysis.counters }, model.counters)
        }
        assert.deepStrictEqual(closeAll(analysis).closed, model.closeAll())
        assert.strictEqual(analysis.openWindowCount, 0)
        seen.late += model.counters.late
      }),
      { numRuns: 400 }
    )
    // Every rule must actually have been exercised, many times.
    for (const [what, n] of Object.entries(seen)) assert.isAbove(n, what === "alerts" ? 60 : 300, `${what}: ${JSON.stringify(seen)}`)
  })

  it("gives the same results whether lines arrive one at a time or in batches", () => {
    fc.assert(
      fc.property(settingsArb, batches, (settings, input) => {
        const batched = new Analysis(settings)
        const single = new Analysis(settings)
        const a = runAnalysis(batched, input)
        const b = runAnalysis(single, input.flatMap(({ lines, nowMs }) => lines.map((l) => ({ lines: [l], nowMs }))))
        assert.deepStrictEqual(a, b)
        assert.deepStrictEqual(closeAll(batched), closeAll(single))
        assert.deepStrictEqual(batched.counters, single.counters)
      }),
      { numRuns: 300 }
    )
  })

  it("after snapshot, JSON round trip and restore, continues exactly like an uninterrupted run", () => {
    fc.assert(
      fc.property(settingsArb, batches, fc.nat(), (settings, input, at) => {
        const split = at % (input.length + 1)
        const straight = new Analysis(settings)
        const expected = { ...runAnalysis(straight, input), final: closeAll(straight), counters: { ...straight.counters } }

        const before = new Analysis(settings)
        const head = runAnalysis(before, input.slice(0, split))
        const snapshot = JSON.parse(JSON.stringify(before.snapshot()))
        const after = new Analysis(settings)
        after.restore(snapshot)
        const tail = runAnalysis(after, input.slice(split))
        const actual = {
          errors: [...head.errors, ...tail.errors],
          rejected: [...head.rejected, ...tail.rejected],
          closed: [...head.closed, ...tail.closed],
          alerts: [...head.alerts, ...tail.alerts],
          final: closeAll(after),
          counters: { ...after.counters }
        }
        assert.deepStrictEqual(actual, expected)
      }),
      { numRuns: 300 }
    )
  })
})

describe("Analysis idle clock after a restore", () => {
  it("waits for the source to be ready: a consumer getting its partitions back is not idle input", () => {
    const before = new Analysis(SETTINGS)
    ingest(before, [line({ ms: T0 + 1_000, status: 404 })])
    const after = new Analysis(SETTINGS)
    after.restore(JSON.parse(JSON.stringify(before.snapshot())))
    // Long after the restart, but the source has not delivered anything yet: windows stay open.
    assert.isFalse(closeIfIdle(after, NOW + 10 * SETTINGS.idleTimeoutMs).didClose)
    after.sourceReady(NOW + 10 * SETTINGS.idleTimeoutMs)
    assert.isFalse(closeIfIdle(after, NOW + 11 * SETTINGS.idleTimeoutMs - 1).didClose)
    assert.isTrue(closeIfIdle(after, NOW + 11 * SETTINGS.idleTimeoutMs).didClose)
  })

  it("starts counting at the first valid record after the restore as well", () => {
    const before = new Analysis(SETTINGS)
    ingest(before, [line({ ms: T0 + 1_000, status: 404 })])
    const after = new Analysis(SETTINGS)
    after.restore(JSON.parse(JSON.stringify(before.snapshot())))
    ingest(after, [line({ ms: T0 + 2_000, status: 404 })], NOW + 5 * SETTINGS.idleTimeoutMs)
    assert.isFalse(closeIfIdle(after, NOW + 6 * SETTINGS.idleTimeoutMs - 1).didClose)
    assert.isTrue(closeIfIdle(after, NOW + 6 * SETTINGS.idleTimeoutMs).didClose)
  })
})
