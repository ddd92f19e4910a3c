import { assert, describe, it } from "@effect/vitest"
import { makeDecoder } from "../../src/domain/formats/Formats.ts"
import { RecordGenerator } from "../../src/domain/RecordGenerator.ts"

const settings = { urls: 50, statusDistribution: [80, 10, 10] as const, seed: "combined-seed" }
const EPOCH_MS = Date.UTC(2025, 4, 30, 18, 52, 47, 123)
const COUNT = 5000

const linesOf = (format: "json" | "combined"): Array<string> => {
  const lines: Array<string> = []
  new RecordGenerator({ ...settings, format }).lines(COUNT, EPOCH_MS, lines)
  return lines
}

// Read with regular expressions, without the decoder.
const COMBINED = /^(\S+) - - \[30\/May\/2025:18:52:47 \+0000\] "(\S+) (\S+) (HTTP\/1\.1|HTTP\/2\.0)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$/

describe("RecordGenerator, --format combined", () => {
  it("writes the same records as JSON for a seed, as combined lines with bytes, referer and user agent", () => {
    const json = linesOf("json").map((line) => JSON.parse(line))
    const combined = linesOf("combined").map((line) => {
      const m = COMBINED.exec(line)
      assert.isNotNull(m, line)
      return m!
    })
    assert.deepStrictEqual(
      combined.map((m) => ({ ip: m[1], method: m[2], url: m[3], status: Number(m[5]) })),
      json.map(({ ip, method, url, status }) => ({ ip, method, url, status }))
    )
    // Some realism: every kind of extra shows up, in plausible shares.
    const share = (test: (m: RegExpExecArray) => boolean) => combined.filter(test).length / COUNT
    assert.isTrue(share((m) => m[6] === "-") > 0.01 && share((m) => m[6] === "-") < 0.06, "bytes - about 3 %")
    assert.isTrue(share((m) => m[7] === "-") > 0.4 && share((m) => m[7] === "-") < 0.6, "referer - about half")
    assert.strictEqual(new Set(combined.map((m) => m[8])).size, 8, "eight user agents")
    assert.isTrue(share((m) => m[4] === "HTTP/2.0") > 0.15, "some HTTP/2")
  })

  it("writes lines the analyzer's byte path reads back whole", () => {
    const lines = linesOf("combined")
    const run = Buffer.from(lines.join("\n"))
    const decoder = makeDecoder("combined")
    let start = 0
    for (const line of lines) {
      const end = decoder.decodeAt(run, start)
      assert.strictEqual(end, start + line.length, line)
      assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47), "the time, to the second")
      assert.strictEqual(decoder.status, Number(COMBINED.exec(line)![5]))
      start = end + 1
    }
  })
})
