import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { CSV_HEADER, isErrorStatus, LogRecord, RecordDecoder, type LineFormat } from "../../src/domain/LogRecord.ts"
import { parseEventTimeMs } from "../../src/domain/Timestamp.ts"

// -- the expected verdict, computed without the decoder ------------------------

type Expected =
  | { readonly verdict: "valid"; readonly record: LogRecord; readonly eventTimeMs: number }
  | { readonly verdict: "rejected" }
  | { readonly verdict: "skip" }

const decodeWithSchema = Schema.decodeUnknownResult(LogRecord)

const expectedFromValue = (value: unknown): Expected => {
  const result = decodeWithSchema(value)
  if (Result.isFailure(result)) return { verdict: "rejected" }
  const record = result.success
  return { verdict: "valid", record, eventTimeMs: parseEventTimeMs(record.timestamp)! }
}

const expectedJson = (line: string): Expected => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { verdict: "rejected" }
  }
  return expectedFromValue(value)
}

/**
 * RFC 4180 fields of one line, character by character. A quoted field must be followed by a comma
 * or the end of the line; a quote inside an unquoted field is taken literally (as Python's csv does).
 */
const referenceCsvFields = (line: string): Array<string> | undefined => {
  const fields: Array<string> = []
  let i = 0
  for (;;) {
    if (line[i] === "\"") {
      let value = ""
      i++
      for (;;) {
        if (i >= line.length) return undefined
        if (line[i] === "\"") {
          if (line[i + 1] === "\"") {
            value += "\""
            i += 2
            continue
          }
          i++
          break
        }
        value += line[i]
        i++
      }
      fields.push(value)
      if (i === line.length) return fields
      if (line[i] !== ",") return undefined
      i++
    } else {
      let j = i
      while (j < line.length && line[j] !== ",") j++
      fields.push(line.slice(i, j))
      if (j === line.length) return fields
      i = j + 1
    }
  }
}

const allAsciiDigits = (text: string): boolean => {
  if (text.length === 0) return false
  for (const ch of text) if (ch < "0" || ch > "9") return false
  return true
}

const expectedCsv = (line: string): Expected => {
  if (line === "timestamp,ip,method,url,status") return { verdict: "skip" }
  const fields = referenceCsvFields(line)
  if (fields === undefined || fields.length !== 5) return { verdict: "rejected" }
  const [timestamp, ip, method, url, status] = fields as [string, string, string, string, string]
  if (!allAsciiDigits(status)) return { verdict: "rejected" }
  return expectedFromValue({ timestamp, ip, method, url, status: Number(status) })
}

const expectedFor = (format: LineFormat, line: string): Expected =>
  format === "json" ? expectedJson(line) : expectedCsv(line)

const encoder = new TextEncoder()
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** Which path decided each line: the byte path, the string fast path, the Schema, or a rejection. */
interface PathCounts {
  bytes: number
  fast: number
  slow: number
  rejected: number
}

const assertValidAs = (decoder: RecordDecoder, expected: Expected & { verdict: "valid" }, label: string): void => {
  assert.strictEqual(decoder.status, expected.record.status, label)
  assert.strictEqual(decoder.eventTimeMs, expected.eventTimeMs, label)
  const record = decoder.record()
  assert.deepStrictEqual(
    { timestamp: record.timestamp, ip: record.ip, method: record.method, url: record.url, status: record.status },
    { ...expected.record },
    label
  )
  const { ip, method, status, timestamp, url } = expected.record
  assert.strictEqual(decoder.errorLine(), JSON.stringify({ timestamp, ip, method, url, status }), `${label}: its errors/ line`)
  assert.strictEqual(decoder.ip(), ip, `${label}: ip()`)
  assert.strictEqual(decoder.url(), url, `${label}: url()`)
}

/**
 * Decodes `line` both ways and checks every observable of the decoder against `expected`: as bytes
 * inside a run of lines (`decodeAt`, which may take the line or hand it on), then as a string.
 */
const assertAgrees = (decoder: RecordDecoder, line: string, expected: Expected, paths?: PathCounts): void => {
  const label = JSON.stringify(line)
  // A run holds valid UTF-8 (no lone surrogates) and has no \r before a line end (the caller drops it).
  if (!line.includes("\n") && !line.endsWith("\r") && utf8.decode(encoder.encode(line)) === line) {
    const before = encoder.encode("x\n")
    const body = encoder.encode(line)
    const last = line.length % 2 === 0
    const bytes = [...before, ...body, ...(last ? [] : encoder.encode("\nnext"))]
    // Sources hand over Buffers (decoded as latin1 when ASCII); tests and others plain Uint8Arrays.
    const run = line.length % 3 === 0 ? Buffer.from(bytes) : new Uint8Array(bytes)
    const end = decoder.decodeAt(run, before.length)
    if (end >= 0) {
      assert.strictEqual(end, before.length + body.length, `${label}: where the byte path says the line ends`)
      assert.strictEqual(expected.verdict, "valid", `${label} was taken by the byte path`)
      if (expected.verdict === "valid") assertValidAs(decoder, expected, label)
      if (paths !== undefined) paths.bytes++
    }
  }
  decoder.reason = ""
  const verdict = decoder.decode(line)
  assert.strictEqual(verdict, expected.verdict, `${label} (reason: ${decoder.reason})`)
  if (expected.verdict === "valid") {
    assertValidAs(decoder, expected, label)
  } else if (expected.verdict === "rejected") {
    assert.isAbove(decoder.reason.length, 0, `no reason for ${label}`)
  }
  if (paths !== undefined) {
    if (decoder.reason !== "") paths.rejected++
    else if (decoder["decoded"] === undefined) paths.fast++
    else paths.slow++
  }
}

// -- generators ---------------------------------------------------------------

const FIELDS = ["timestamp", "ip", "method", "url", "status"] as const

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/** A valid timestamp in 2020-2030, in Z or a random offset, with 0 to 9 fraction digits. */
const validTimestamp: fc.Arbitrary<string> = fc.tuple(
  fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
  fc.oneof(fc.constant(0), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 })),
  fc.boolean(),
  fc.stringMatching(/^[0-9]{0,9}$/)
).map(([ms, offset, useZ, fraction]) => {
  const local = new Date(ms + offset * 60_000)
  const zone = useZ && offset === 0
    ? "Z"
    : `${offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offset) / 60), 2)}:${pad(Math.abs(offset) % 60, 2)}`
  return `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}T` +
    `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
    (fraction.length > 0 ? `.${fraction}` : "") + zone
})

const invalidTimestamp = fc.constantFrom(
  "2025-02-30T00:00:00Z",
  "2025-05-30T24:00:00Z",
  "2025-05-30T18:52:47",
  "2025-05-30 18:52:47Z",
  "2025-05-30T18:52:47.Z",
  "2025-05-30T18:52:47+24:00",
  "2025-05-30t18:52:47z",
  "",
  "yesterday"
)

const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 8 }))
const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "DELETE"), fc.string({ maxLength: 6 }))
const url = fc.oneof(fc.integer({ min: 1, max: 20 }).map((n) => `/resource/${n}`), fc.webUrl(), fc.string({ maxLength: 10 }))

/** Characters that stress a JSON scanner: quotes, backslashes, control characters, NUL, non-BMP, lone surrogates. */
const awkwardString = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom("a", "/", " ", ",", "\"", "\\", "\n", "\r", "\t", "\u0000", "\u001f", "é", "😀", "\ud800", "\u2028") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) }
  ),
  maxLength: 12
})

/** The JSON text of a string, sometimes with characters rewritten as `\uXXXX` escapes (still the same string). */
const jsonStringText = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), fc.nat()).map(([text, escape, seed]) => {
    if (!escape || text.length === 0) return JSON.stringify(text)
    const at = seed % text.length
    const code = text.charCodeAt(at)
    const head = JSON.stringify(text.slice(0, at)).slice(0, -1)
    const tail = JSON.stringify(text.slice(at + 1)).slice(1)
    return `${head}\\u${code.toString(16).padStart(4, "0")}${tail}`
  })

/** Raw JSON number texts, including forms that JSON.stringify never writes. */
const numberText = fc.oneof(
  fc.constantFrom("404", "200", "500", "100", "599", "99", "600", "0", "-0", "-404", "404.0", "404.5", "4.04e2", "4.04E+2", "40400e-2", "404e0", "1e400", "-1e400", "9007199254740993404", "1.5", "0.0"),
  fc.integer({ min: 90, max: 610 }).map(String),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  // Not JSON at all:
  fc.constantFrom("0404", "+404", "404.", ".5", "4_04", "0x194", "NaN", "Infinity", "404 4")
)

const jsonValueText = (field: string | undefined): fc.Arbitrary<string> => {
  const common = [
    { weight: 2, arbitrary: jsonStringText(awkwardString) },
    { weight: 2, arbitrary: numberText },
    { weight: 1, arbitrary: fc.constantFrom("null", "true", "false", "[]", "{}", "[404]", "{\"a\":1}", "\"\"") },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) }
  ]
  switch (field) {
    case "timestamp":
      return fc.oneof({ weight: 40, arbitrary: jsonStringText(validTimestamp) }, { weight: 2, arbitrary: jsonStringText(invalidTimestamp) }, ...common)
    case "ip":
      return fc.oneof({ weight: 40, arbitrary: jsonStringText(ip) }, ...common)
    case "method":
      return fc.oneof({ weight: 40, arbitrary: jsonStringText(method) }, ...common)
    case "url":
      return fc.oneof({ weight: 40, arbitrary: jsonStringText(url) }, ...common)
    case "status":
      return fc.oneof(
        { weight: 40, arbitrary: fc.constantFrom(200, 404, 500, 302, 100, 599).map(String) },
        { weight: 2, arbitrary: fc.constantFrom("\"404\"", "\"200\"") },
        ...common
      )
    default:
      return fc.oneof(...common)
  }
}

const jsonWhitespace = fc.oneof(
  { weight: 30, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: fc.constantFrom(" ", "  ") },
  { weight: 2, arbitrary: fc.constantFrom("\t", "\n", "\r\n", " \r") },
  // Not JSON whitespace:
  { weight: 1, arbitrary: fc.constantFrom("\u00a0", "\ufeff", "\u000b", "\u0000") }
)

const keyText = (field: string | undefined): fc.Arbitrary<string> =>
  field === undefined
    ? fc.oneof(jsonStringText(fc.string({ maxLength: 8 })), fc.constantFrom("\"Status\"", "\"__proto__\"", "\"\"", "\"statu\"", "\"timestamps\""))
    : fc.oneof({ weight: 19, arbitrary: fc.constant(JSON.stringify(field)) }, { weight: 1, arbitrary: jsonStringText(fc.constant(field)) })

/** One `"key": value` member: a record field (possibly repeated) or an extra key. */
const member = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 1, arbitrary: fc.constant(undefined) }
).chain((field) =>
  fc.tuple(keyText(field), jsonValueText(field), jsonWhitespace, jsonWhitespace).map(([k, v, w1, w2]) => `${k}${w1}:${w2}${v}`)
)

const objectText = (members: fc.Arbitrary<Array<string>>): fc.Arbitrary<string> =>
  fc.tuple(members, fc.array(jsonWhitespace, { minLength: 12, maxLength: 12 })).map(([ms, ws]) =>
    `${ws[0]}{${ws[1]}${ms.map((m, i) => (i === 0 ? m : `${ws[(i % 8) + 2]},${ws[(i % 7) + 3]}${m}`)).join("")}${ws[10]}}${ws[11]}`
  )

/** All five fields in a random order, plus a few extra members and sometimes a repeated field. */
const nearValidJsonObject = fc.tuple(
  fc.shuffledSubarray([...FIELDS], { minLength: 5, maxLength: 5 }),
  fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(member, { maxLength: 3 }) }),
  fc.nat()
).chain(([order, extras, seed]) =>
  fc.tuple(...order.map((field) =>
    fc.tuple(jsonValueText(field), jsonWhitespace).map(([v, w]) => `${JSON.stringify(field)}:${w}${v}`)
  )).map((members) => {
    const all = [...members]
    for (const extra of extras) all.splice(seed % (all.length + 1), 0, extra)
    return all
  })
)

/** The five fields in the generator's order with no whitespace: the byte path's shape, values of any kind. */
const canonicalJsonObject = fc.tuple(...FIELDS.map((field) => jsonValueText(field))).map((values) =>
  `{${values.map((v, i) => `${JSON.stringify(FIELDS[i])}:${v}`).join(",")}}`
)

/** Small edits that turn a line into something slightly (or very) different. */
const corrupt = (line: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(line, fc.nat(), fc.nat(), fc.oneof({ weight: 6, arbitrary: fc.constant("none") }, fc.constantFrom("truncate", "insert", "delete", "nul")), fc.constantFrom(",", "\"", "}", "{", "\\", "\u0000", ":", " ", "x", "]"))
    .map(([text, a, b, edit, ch]) => {
      const at = text.length === 0 ? 0 : a % text.length
      switch (edit) {
        case "truncate":
          return text.slice(0, at)
        case "insert":
          return text.slice(0, at) + ch + text.slice(at)
        case "delete":
          return text.slice(0, at) + text.slice(at + 1 + (b % 3))
        case "nul":
          return text.slice(0, at) + "\u0000" + text.slice(at)
        default:
          return text
      }
    })

export const jsonLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."{}[]\":,0123456789. \\nutrelsfa"), maxLength: 40 }) },
  // JSON.stringify of random objects built from the five fields and random value kinds.
  {
    weight: 3,
    arbitrary: fc.record(
      {
        timestamp: fc.oneof(validTimestamp, invalidTimestamp, fc.anything({ maxDepth: 1 })),
        ip: fc.oneof({ weight: 4, arbitrary: ip }, fc.anything({ maxDepth: 1 })),
        method: fc.oneof({ weight: 4, arbitrary: method }, fc.anything({ maxDepth: 1 })),
        url: fc.oneof({ weight: 4, arbitrary: url }, fc.anything({ maxDepth: 1 })),
        status: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 95, max: 605 }) }, fc.double(), fc.anything({ maxDepth: 1 })),
        extra: fc.anything({ maxDepth: 2 })
      },
      { requiredKeys: [] }
    ).map((o) => JSON.stringify(o) ?? "undefined")
  },
  { weight: 2, arbitrary: objectText(fc.array(member, { maxLength: 7 })) },
  { weight: 24, arbitrary: corrupt(objectText(nearValidJsonObject)) },
  { weight: 12, arbitrary: corrupt(canonicalJsonObject) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) }
)

const csvStatus = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom("200", "404", "500", "302", "100", "599") },
  { weight: 3, arbitrary: fc.constantFrom("99", "600", "099", "0404", "00404", "404.0", " 404", "404 ", "4e2", "", "-404", "+404", "٤٠٤", "\"404\"", "99999999999999999999") },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,5}$/) }
)

/** A CSV field text: plain, or quoted with doubled quotes, or a broken quote. */
const csvFieldText = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.oneof({ weight: 40, arbitrary: fc.constant("plain") }, { weight: 4, arbitrary: fc.constant("quoted") }, { weight: 1, arbitrary: fc.constant("broken") })).map(([v, how]) => {
    if (how === "quoted") return `"${v.replaceAll("\"", "\"\"")}"`
    if (how === "broken") return `"${v}`
    return v
  })

const csvAwkward = fc.string({ unit: fc.constantFrom("a", ",", "\"", " ", "/", "\u0000", "é", "\t"), maxLength: 8 })

const nearValidCsv = fc.tuple(
  csvFieldText(fc.oneof({ weight: 20, arbitrary: validTimestamp }, invalidTimestamp, csvAwkward)),
  csvFieldText(fc.oneof({ weight: 10, arbitrary: fc.ipV4() }, csvAwkward)),
  csvFieldText(fc.oneof({ weight: 10, arbitrary: method }, csvAwkward)),
  csvFieldText(fc.oneof({ weight: 10, arbitrary: url }, csvAwkward)),
  fc.oneof({ weight: 10, arbitrary: csvStatus }, csvFieldText(csvStatus)),
  fc.oneof({ weight: 8, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(csvAwkward, { minLength: 1, maxLength: 2 }) }),
  fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
).map(([t, i, m, u, s, extra, dropOne]) => {
  const fields = [t, i, m, u, s, ...extra]
  if (dropOne) fields.splice(1, 1)
  return fields.join(",")
})

const csvLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."\",0123456789:-TZ. a"), maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(CSV_HEADER, `${CSV_HEADER} `, `"timestamp",ip,method,url,status`, "TIMESTAMP,IP,METHOD,URL,STATUS") },
  { weight: 10, arbitrary: corrupt(nearValidCsv) },
  { weight: 1, arbitrary: jsonLine }
)

// -- properties ---------------------------------------------------------------

/** The agreement says little unless valid lines through both paths, and rejections, are all common. */
const assertWellMixed = (paths: PathCounts, runs: number, stringFastPath: boolean): void => {
  assert.isAbove(paths.bytes, runs / 25, JSON.stringify(paths))
  if (stringFastPath) assert.isAbove(paths.fast, runs / 25, JSON.stringify(paths))
  assert.isAbove(paths.slow, runs / 50, JSON.stringify(paths))
  assert.isAbove(paths.rejected, runs / 10, JSON.stringify(paths))
}


describe("RecordDecoder agrees with JSON.parse + the LogRecord Schema", () => {
  /** Every line of `lines` decoded both ways agrees with the reference, and every path is well used. */
  const agreesOnEveryKind = (format: LineFormat, lines: fc.Arbitrary<string>, runs: number) => {
    const decoder = new RecordDecoder(format)
    const paths = { bytes: 0, fast: 0, slow: 0, rejected: 0 }
    fc.assert(fc.property(lines, (line) => assertAgrees(decoder, line, expectedFor(format, line), paths)), { numRuns: runs })
    // Only JSON has a string fast path (`fastJson`); CSV strings go straight to the Schema.
    assertWellMixed(paths, runs, format === "json")
  }

  it("on JSON lines of every kind", () => agreesOnEveryKind("json", jsonLine, 10_000))

  it("on CSV lines of every kind", () => agreesOnEveryKind("csv", csvLine, 20_000))

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
    assertAgrees(new RecordDecoder("json"), jsonText, expectedJson(jsonText))
    const csvText = [record.timestamp, record.ip, record.method, record.url].map(quoteCsv).join(",") + `,${record.status}`
    assertAgrees(new RecordDecoder("csv"), csvText, expectedCsv(csvText))
    const expectedValid = parseEventTimeMs(record.timestamp) !== undefined && record.status >= 100 && record.status <= 599
    assert.strictEqual(new RecordDecoder("json").decode(jsonText), expectedValid ? "valid" : "rejected")
  }, { arbitrary: { runs: 3000 } })

  it("keeps no state from one line to the next", () => {
    // The same line must get the same answer whatever came before it.
    fc.assert(
      fc.property(fc.constantFrom<LineFormat>("json", "csv"), fc.array(fc.oneof(jsonLine, csvLine), { minLength: 2, maxLength: 6 }), (format, lines) => {
        const shared = new RecordDecoder(format)
        for (const line of lines) assertAgrees(shared, line, expectedFor(format, line))
      }),
      { numRuns: 1500 }
    )
  })
})

// -- examples -----------------------------------------------------------------

const decodeJson = (line: string) => {
  const decoder = new RecordDecoder("json")
  return { verdict: decoder.decode(line), decoder }
}
const decodeCsv = (line: string) => {
  const decoder = new RecordDecoder("csv")
  return { verdict: decoder.decode(line), decoder }
}

const EXAMPLE = `{"timestamp": "2025-05-30T18:52:47.123456Z", "ip": "192.168.1.100", "method": "GET", "url": "/resource/42", "status": 404}`

describe("RecordDecoder, JSON examples", () => {
  it("decodes the seed's example line (the README's record example, with microseconds)", () => {
    const { verdict, decoder } = decodeJson(EXAMPLE)
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.status, 404)
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47, 123))
    assert.deepStrictEqual(decoder.record(), {
      timestamp: "2025-05-30T18:52:47.123456Z",
      ip: "192.168.1.100",
      method: "GET",
      url: "/resource/42",
      status: 404
    })
  })

  it("reads a +02:00 offset with six fractional digits as the UTC instant, truncated", () => {
    const { verdict, decoder } = decodeJson(
      `{"timestamp":"2025-05-30T20:52:47.999999+02:00","ip":"10.0.0.1","method":"POST","url":"/a","status":500}`
    )
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47, 999))
    assert.strictEqual(decoder.record().timestamp, "2025-05-30T20:52:47.999999+02:00")
  })

  it("ignores extra fields, whatever their kind, and keeps only the five", () => {
    const { verdict, decoder } = decodeJson(
      `{"user_agent":"curl/8","timestamp":"2025-05-30T18:52:47Z","bytes":1234,"ip":"1.2.3.4","nested":{"a":[1,2,{"b":null}]},"method":"GET","url":"/x","status":200,"ok":true,"ratio":0.5}`
    )
    assert.strictEqual(verdict, "valid")
    assert.deepStrictEqual(decoder.record(), { timestamp: "2025-05-30T18:52:47Z", ip: "1.2.3.4", method: "GET", url: "/x", status: 200 })
  })

  it("decodes escaped strings to their values", () => {
    const { verdict, decoder } = decodeJson(
      `{"timestamp":"2025-05-30T18:52:47Z","ip":"\\u0031.2.3.4","method":"G\\u0045T","url":"/a\\"b\\\\c\\/d","status":404}`
    )
    assert.strictEqual(verdict, "valid")
    assert.deepStrictEqual(decoder.record(), { timestamp: "2025-05-30T18:52:47Z", ip: "1.2.3.4", method: "GET", url: "/a\"b\\c/d", status: 404 })
  })

  it("lets the last of duplicate keys win, as JSON.parse does", () => {
    const { verdict, decoder } = decodeJson(
      `{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":200,"status":503}`
    )
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.status, 503)
    assert.strictEqual(decodeJson(`{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":503,"status":"x"}`).verdict, "rejected")
  })

  it("rejects a status outside 100..599 or of the wrong type", () => {
    const line = (status: string) => `{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":${status}}`
    for (const status of ["99", "600", "\"404\"", "404.5", "-404", "null", "true", "[404]", "1e400"]) {
      const { verdict, decoder } = decodeJson(line(status))
      assert.strictEqual(verdict, "rejected", status)
      assert.isAbove(decoder.reason.length, 0, status)
    }
    for (const status of ["100", "599"]) assert.strictEqual(decodeJson(line(status)).verdict, "valid", status)
  })

  it("accepts 404.0 and 4.04e2, which are the integer 404 in JSON", () => {
    // JSON has one number type: these texts denote exactly 404, and the Schema (Int, 100..599) accepts them.
    const line = (status: string) => `{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":${status}}`
    for (const status of ["404.0", "4.04e2", "40400e-2"]) {
      const { verdict, decoder } = decodeJson(line(status))
      assert.strictEqual(verdict, "valid", status)
      assert.strictEqual(decoder.status, 404, status)
    }
  })

  it("rejects a missing field and a field of the wrong type", () => {
    assert.strictEqual(decodeJson(`{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","status":404}`).verdict, "rejected")
    assert.strictEqual(decodeJson(`{"timestamp":"2025-05-30T18:52:47Z","ip":1234,"method":"GET","url":"/x","status":404}`).verdict, "rejected")
    assert.strictEqual(decodeJson(`{"timestamp":"2025-05-30T18:52:47Z","ip":null,"method":"GET","url":"/x","status":404}`).verdict, "rejected")
    assert.strictEqual(decodeJson(`{"timestamp":1748631167000,"ip":"1.2.3.4","method":"GET","url":"/x","status":404}`).verdict, "rejected")
  })

  it("rejects a bad timestamp with a reason", () => {
    const { verdict, decoder } = decodeJson(`{"timestamp":"2025-02-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":404}`)
    assert.strictEqual(verdict, "rejected")
    assert.isAbove(decoder.reason.length, 0)
  })

  it.each([
    ["an array", "[1,2,3]"],
    ["an array of records", `[${EXAMPLE}]`],
    ["a number", "404"],
    ["null", "null"],
    ["a string", "\"hello\""],
    ["a boolean", "true"],
    ["truncated JSON", EXAMPLE.slice(0, 60)],
    ["a missing closing brace", EXAMPLE.slice(0, -1)],
    ["two objects on one line", `${EXAMPLE}${EXAMPLE}`],
    ["trailing garbage", `${EXAMPLE} x`],
    ["a trailing comma", EXAMPLE.replace("}", ",}")],
    ["single quotes", EXAMPLE.replaceAll("\"", "'")],
    ["a CSV line", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404"],
    ["the CSV header", CSV_HEADER],
    ["a NUL byte inside a string", EXAMPLE.replace("/resource/42", "/resource/\u000042")],
    ["a NUL byte between tokens", EXAMPLE.replace(", \"ip\"", ",\u0000\"ip\"")],
    ["a raw newline inside a string", EXAMPLE.replace("/resource/42", "/resource/\n42")],
    ["a lone NUL", "\u0000"],
    ["deeply nested arrays", "[".repeat(100_000) + "]".repeat(100_000)]
  ])("rejects %s with a reason", (_name, line) => {
    const { verdict, decoder } = decodeJson(line)
    assert.strictEqual(verdict, "rejected")
    assert.isAbove(decoder.reason.length, 0)
  })

  it("accepts NUL as an escaped character inside a string", () => {
    const { verdict, decoder } = decodeJson(EXAMPLE.replace("/resource/42", "/resource/\\u000042"))
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.record().url, "/resource/\u000042")
  })

  it("does not strip a trailing carriage return itself (that is the line splitter's job), yet JSON allows it as whitespace", () => {
    // \r is JSON whitespace, so a CRLF-terminated JSON line still decodes; the CSV case is in the next block.
    assert.strictEqual(decodeJson(`${EXAMPLE}\r`).verdict, "valid")
  })
})

describe("RecordDecoder, CSV examples", () => {
  it("decodes a plain line", () => {
    const { verdict, decoder } = decodeCsv("2025-05-30T18:52:47.123456Z,192.168.1.100,GET,/resource/42,404")
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.status, 404)
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47, 123))
    assert.deepStrictEqual(decoder.record(), {
      timestamp: "2025-05-30T18:52:47.123456Z",
      ip: "192.168.1.100",
      method: "GET",
      url: "/resource/42",
      status: 404
    })
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

describe("isErrorStatus", () => {
  it("is true from 400 up", () => {
    assert.isFalse(isErrorStatus(200))
    assert.isFalse(isErrorStatus(399))
    assert.isTrue(isErrorStatus(400))
    assert.isTrue(isErrorStatus(404))
    assert.isTrue(isErrorStatus(599))
  })
})
