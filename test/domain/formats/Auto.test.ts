import { assert, describe, it } from "@effect/vitest"
import { Analysis, AnalysisOutput } from "../../../src/domain/Analysis.ts"
import { makeDecoder } from "../../../src/domain/formats/Formats.ts"
import type { LineDecoder } from "../../../src/domain/formats/LineDecoder.ts"

const JSON_LINE = `{"timestamp":"2025-05-30T18:52:47Z","ip":"10.0.0.1","method":"GET","url":"/j","status":404}`
const CSV_LINE = "2025-05-30T18:52:47Z,10.0.0.1,GET,/c,404"
const COMBINED_LINE = `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET /n HTTP/1.1" 404 12 "-" "curl/8.5.0"`

const verdicts = (decoder: LineDecoder, lines: ReadonlyArray<string>) =>
  lines.map((line) => {
    const verdict = decoder.decode(line)
    return verdict === "valid" ? decoder.url() : verdict === "rejected" ? `rejected: ${decoder.reason}` : verdict
  })

describe("--format auto", () => {
  it("chooses the format of the first line one of them accepts, and keeps to it", () => {
    assert.deepStrictEqual(verdicts(makeDecoder("auto"), [JSON_LINE, JSON_LINE]), ["/j", "/j"])
    assert.deepStrictEqual(verdicts(makeDecoder("auto"), ["timestamp,ip,method,url,status", CSV_LINE]), ["skip", "/c"])
    const combined = verdicts(makeDecoder("auto"), [COMBINED_LINE, JSON_LINE, CSV_LINE, COMBINED_LINE])
    assert.deepStrictEqual(combined.map((v) => v.slice(0, 9)), ["/n", "rejected:", "rejected:", "/n"])
    assert.match(combined[1]!, /JSON line/)
  })

  it("rejects the lines before, with every format's reason", () => {
    const [first, second] = verdicts(makeDecoder("auto"), ["hello", CSV_LINE])
    assert.match(first!, /^rejected: no format accepts this line.*json: .*csv: .*combined: /)
    assert.strictEqual(second, "/c")
  })

  it("reads the chosen format through its byte path", () => {
    const decoder = makeDecoder("auto")
    const run = Buffer.from(`${COMBINED_LINE}\n${COMBINED_LINE}`)
    assert.strictEqual(decoder.decodeAt(run, 0), -1, "nothing chosen yet: the line goes through decode")
    assert.strictEqual(decoder.decode(COMBINED_LINE), "valid")
    assert.strictEqual(decoder.decodeAt(run, COMBINED_LINE.length + 1), run.length)
    assert.strictEqual(decoder.errorLine(), `{"timestamp":"2025-05-30T18:52:47+00:00","ip":"10.0.0.1","method":"GET","url":"/n","status":404,"bytes":12,"user_agent":"curl/8.5.0"}`)
  })

  it("keeps its choice in the analysis snapshot, and a restored analysis goes on with it", () => {
    const settings = { format: "auto", windowMs: 30_000, watermarkMs: 10_000, threshold: 100, idleTimeoutMs: 30_000, maxFutureMs: 3_600_000 } as const
    const now = Date.UTC(2025, 4, 30, 19)
    const first = new Analysis(settings)
    const out = new AnalysisOutput()
    first.ingest([COMBINED_LINE], now, out)
    const snapshot = first.snapshot()
    assert.strictEqual(snapshot.detectedFormat, "combined")
    const restored = new Analysis(settings)
    restored.restore(structuredClone(snapshot))
    out.clear()
    restored.ingest([JSON_LINE, COMBINED_LINE], now, out)
    assert.strictEqual(out.rejected.length, 1)
    assert.match(out.rejected[0]!.reason, /JSON line/)
    assert.strictEqual(out.errors.length, 1)
    assert.strictEqual(new Analysis({ ...settings, format: "json" }).snapshot().detectedFormat, undefined)
  })
})
