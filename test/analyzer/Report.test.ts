import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { Counters } from "../../src/domain/Analysis.ts"
import type { WindowRow } from "../../src/domain/Window.ts"
import { formatReport, summarizeUrls } from "../../src/analyzer/Report.ts"

const counters: Counters = {
  lines: 1_234_567, valid: 1_200_000, errors: 98_765, rejected: 4_321, late: 12,
  lateBehindMs: 58_700, lateWatermarkMs: 41_001, lateAfterClose: 0
}

const row = (status: number, count: number, ips: number, urls: ReadonlyArray<string>): WindowRow => ({
  window_start: "2025-05-30T18:52:30.000Z",
  window_end: "2025-05-30T18:53:00.000Z",
  status,
  error_count: count,
  unique_ips: ips,
  urls
})

const urls = (n: number) => Array.from({ length: n }, (_, i) => `/resource/${i + 1}`)

describe("formatReport", () => {
  it("names each firing status under the header, with since when and its latest window over the threshold", () => {
    const latest = {
      window_start: "2025-05-30T18:52:30.000Z",
      window_end: "2025-05-30T18:53:00.000Z",
      status: 404,
      error_count: 101,
      unique_ips: 7,
      alert: "ALERTE : Nombre d'erreurs élevé",
      alert_timestamp: "2025-05-30T18:52:41.000Z"
    }
    const firing = {
      status: 404,
      state: "firing" as const,
      sinceMs: Date.parse("2025-05-30T18:52:41.000Z"),
      firingSinceMs: Date.parse("2025-05-30T18:52:41.000Z"),
      latest,
      latestWindowStartMs: Date.parse(latest.window_start)
    }
    const lines = formatReport({
      nowIso: "2025-05-30T18:53:05.123Z",
      counters,
      watermarkIso: undefined,
      openWindows: 1,
      rows: [],
      firing: [firing]
    }).split("\n")
    assert.strictEqual(
      lines[1],
      "  firing: status 404 since 2025-05-30T18:52:41.000Z (latest window over the threshold 2025-05-30T18:52:30.000Z)"
    )
    const quiet = formatReport({ nowIso: "x", counters, watermarkIso: undefined, openWindows: 0, rows: [], firing: [] })
    assert.notInclude(quiet, "firing")
  })

  it("shows the counters in the header and one table line per row", () => {
    const text = formatReport({
      nowIso: "2025-05-30T18:53:05.123Z",
      counters,
      watermarkIso: "2025-05-30T18:52:55.000Z",
      openWindows: 2,
      rows: [row(404, 150, 25, ["/resource/1", "/resource/2"]), row(500, 7, 3, ["/resource/9"])]
    })
    const lines = text.split("\n")
    assert.match(lines[0]!, /^Report at 2025-05-30T18:53:05\.123Z/)
    for (const part of ["lines read 1,234,567", "rejected 4,321", "errors 98,765", "late errors 12", "open windows 2", "watermark 2025-05-30T18:52:55.000Z"]) {
      assert.include(lines[0]!, part)
    }
    assert.match(lines[1]!, /window\s+status\s+error_count\s+unique_ips\s+urls/)
    const body = lines.slice(3)
    assert.strictEqual(body.length, 2)
    assert.match(body[0]!, /^2025-05-30T18:52:30\.000Z → 18:53:00\.000Z\s+404\s+150\s+25\s+\/resource\/1, \/resource\/2$/)
    assert.match(body[1]!, /^2025-05-30T18:52:30\.000Z → 18:53:00\.000Z\s+500\s+7\s+3\s+\/resource\/9$/)
    // Columns line up: every status cell ends at the same column.
    const statusEnd = (l: string) => l.indexOf(" 404") >= 0 ? l.indexOf(" 404") + 4 : l.indexOf(" 500") + 4
    assert.strictEqual(statusEnd(body[0]!), statusEnd(body[1]!))
  })

  it("says how late the late errors were and which --watermark would have counted them all", () => {
    const header = (c: Counters) =>
      formatReport({ nowIso: "x", counters: c, watermarkIso: "w", openWindows: 0, rows: [] }).split("\n")[0]!
    assert.match(
      header(counters),
      /late errors 12, open windows 0, watermark w; the late errors were up to 58\.7 s behind the newest event time; --watermark 42s would have counted them all$/
    )
    assert.match(
      header({ ...counters, lateAfterClose: 2 }),
      /; the late errors were up to 58\.7 s behind the newest event time; --watermark 42s would have counted 10 of them; 2 came after an idle or shutdown close \(see --idle-timeout\)$/
    )
    assert.match(
      header({ ...counters, late: 2, lateWatermarkMs: 0, lateAfterClose: 2 }),
      /; the late errors were up to 58\.7 s behind the newest event time; 2 came after an idle or shutdown close \(see --idle-timeout\)$/
    )
    assert.match(header({ ...counters, late: 0, lateBehindMs: 0, lateWatermarkMs: 0 }), /late errors 0, open windows 0, watermark w$/)
  })

  it("says when nothing changed, marks the final report, and has no watermark before any record", () => {
    const text = formatReport({ nowIso: "2025-05-30T18:53:05.000Z", counters, watermarkIso: undefined, openWindows: 0, rows: [], final: true })
    assert.match(text, /^Final report at /)
    assert.include(text, "watermark none yet")
    assert.include(text, "no window changed")
  })

  it("summarises a long URL list in the table without cutting a URL", () => {
    const text = formatReport({ nowIso: "x", counters, watermarkIso: undefined, openWindows: 1, rows: [row(404, 500, 40, urls(40))] })
    const last = text.split("\n").at(-1)!
    const cell = last.slice(last.indexOf("/resource/"))
    assert.match(cell, /, … \(\+\d+ more\)$/)
    const shown = cell.replace(/, … \(\+\d+ more\)$/, "").split(", ")
    assert.deepStrictEqual(shown, urls(shown.length))
    assert.strictEqual(Number(/\+(\d+) more/.exec(cell)![1]) + shown.length, 40)
  })
})

describe("summarizeUrls", () => {
  it("keeps short lists whole", () => {
    assert.strictEqual(summarizeUrls(["/a", "/b"], 60), "/a, /b")
    assert.strictEqual(summarizeUrls([], 60), "")
  })

  it("property: whole URLs only, in order, then the exact number left out; fits the width when it can", () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^\/[a-z0-9]{1,15}$/), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 10, max: 120 }),
        (list, width) => {
          const text = summarizeUrls(list, width)
          const m = /^(.*), … \(\+(\d+) more\)$/.exec(text)
          const shown = (m === null ? text : m[1]!).split(", ")
          const more = m === null ? 0 : Number(m[2])
          assert.deepStrictEqual(shown, list.slice(0, shown.length))
          assert.strictEqual(shown.length + more, list.length)
          assert.isAtLeast(shown.length, 1)
          // Only the first URL alone may overflow the width (it is never cut).
          if (shown.length > 1) assert.isAtMost(text.length, width)
        }
      ),
      { numRuns: 500 }
    )
  })
})
