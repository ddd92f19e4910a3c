import { assert, describe, it } from "@effect/vitest"
import { CSV_HEADER } from "../../../src/domain/formats/Csv.ts"
import { makeDecoder } from "../../../src/domain/formats/Formats.ts"
import { agreesOnEveryKind, assertExampleRecord, csvLine, decodeLine, EXAMPLE, expectedCsv } from "./agreement.ts"

describe("the CSV decoder agrees with an RFC 4180 reading + the LogRecord Schema", () => {
  it("on CSV lines of every kind", () => agreesOnEveryKind(makeDecoder("csv"), csvLine, expectedCsv, 20_000))
})

const decodeCsv = (line: string) => decodeLine("csv", line)


describe("the CSV decoder, examples", () => {
  it("decodes a plain line", () => {
    const { verdict, decoder } = decodeCsv("2025-05-30T18:52:47.123456Z,192.168.1.100,GET,/resource/42,404")
    assertExampleRecord(verdict, decoder)
  })

  it("skips the header line", () => {
    assert.strictEqual(decodeCsv(CSV_HEADER).verdict, "skip")
    assert.strictEqual(decodeCsv("timestamp,ip,method,url,status").verdict, "skip")
  })

  it("reads a quoted URL containing a comma and doubled quotes", () => {
    const { verdict, decoder } = decodeCsv(`2025-05-30T20:52:47+02:00,10.0.0.1,GET,"/search?q=a,b&s=""x""",500`)
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.record().url, "/search?q=a,b&s=\"x\"")
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47))
  })

  it("reads a quoted status", () => {
    const { verdict, decoder } = decodeCsv(`2025-05-30T18:52:47Z,1.2.3.4,GET,/x,"404"`)
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.status, 404)
  })

  it.each([
    ["status 99", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,99"],
    ["status 600", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,600"],
    ["status 404.0", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404.0"],
    ["status with a space", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x, 404"],
    ["an empty status", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,"],
    ["four fields", "2025-05-30T18:52:47Z,1.2.3.4,GET,404"],
    ["six fields", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404,extra"],
    ["an unbalanced quote", `2025-05-30T18:52:47Z,1.2.3.4,GET,"/x,404`],
    ["text after a closing quote", `2025-05-30T18:52:47Z,1.2.3.4,GET,"/x"y,404`],
    ["a bad timestamp", "2025-02-30T18:52:47Z,1.2.3.4,GET,/x,404"],
    ["a trailing carriage return (the splitter strips it, not the decoder)", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404\r"],
    ["a JSON line", EXAMPLE],
    ["a NUL byte in the status", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,40\u00004"],
    ["the empty line", ""]
  ])("rejects %s with a reason", (_name, line) => {
    const { verdict, decoder } = decodeCsv(line)
    assert.strictEqual(verdict, "rejected")
    assert.isAbove(decoder.reason.length, 0)
  })

  it("keeps NUL bytes inside text fields as data", () => {
    const { verdict, decoder } = decodeCsv("2025-05-30T18:52:47Z,1.2.3.4,GET,/x\u0000y,404")
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.record().url, "/x\u0000y")
  })

  it("accepts leading zeros in a digits-only status", () => {
    const { verdict, decoder } = decodeCsv("2025-05-30T18:52:47Z,1.2.3.4,GET,/x,0404")
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.status, 404)
  })
})

