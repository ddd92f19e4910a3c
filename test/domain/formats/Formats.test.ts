import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { makeDecoder, type FormatName } from "../../../src/domain/formats/Formats.ts"
import { parseEventTimeMs } from "../../../src/domain/Timestamp.ts"
import { assertAgrees, csvLine, expectedCsv, expectedFor, expectedJson, jsonLine } from "./agreement.ts"

describe("every format's decoder agrees with its reference", () => {
  // Records drawn from the Schema's own Arbitrary (with the timestamp made valid most of the time,
  // because random strings essentially never pass the timestamp check), written out as JSON and CSV.
  const recordShape = Schema.Struct({
    timestamp: Schema.String,
    ip: Schema.String,
    method: Schema.String,
    url: Schema.String,
    status: Schema.Int,
    pick: Schema.Int
  })
  const timestamps = ["2025-05-30T18:52:47.123456Z", "2025-05-30T20:52:47+02:00", "2024-02-29T23:59:59.999-05:30", "2025-02-29T00:00:00Z"]
  const schemaRecords = Arbitrary.schema(recordShape).pipe(
    Arbitrary.map((r) => ({
      timestamp: Math.abs(r.pick) % 5 < 4 ? timestamps[Math.abs(r.pick) % 4]! : r.timestamp,
      ip: r.ip,
      method: r.method,
      url: r.url,
      status: Math.abs(r.pick) % 3 === 0 ? r.status : 100 + (Math.abs(r.status) % 500)
    }))
  )
  const quoteCsv = (text: string): string => `"${text.replaceAll("\"", "\"\"")}"`

  it.prop("on records from the Schema's Arbitrary, in both formats", [schemaRecords], ([record]) => {
    const jsonText = JSON.stringify(record)
    assertAgrees(makeDecoder("json"), jsonText, expectedJson(jsonText))
    const csvText = [record.timestamp, record.ip, record.method, record.url].map(quoteCsv).join(",") + `,${record.status}`
    assertAgrees(makeDecoder("csv"), csvText, expectedCsv(csvText))
    const expectedValid = parseEventTimeMs(record.timestamp) !== undefined && record.status >= 100 && record.status <= 599
    assert.strictEqual(makeDecoder("json").decode(jsonText), expectedValid ? "valid" : "rejected")
  }, { arbitrary: { runs: 3000 } })

  it("keeps no state from one line to the next", () => {
    // The same line must get the same answer whatever came before it.
    fc.assert(
      fc.property(fc.constantFrom<FormatName>("json", "csv"), fc.array(fc.oneof(jsonLine, csvLine), { minLength: 2, maxLength: 6 }), (format, lines) => {
        const shared = makeDecoder(format)
        for (const line of lines) assertAgrees(shared, line, expectedFor(format, line))
      }),
      { numRuns: 1500 }
    )
  })
})

