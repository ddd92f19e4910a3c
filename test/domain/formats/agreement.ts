/**
 * What the format decoders' tests share: the expected verdict of a line computed without the
 * decoder (JSON.parse or an RFC 4180 reading, then the LogRecord Schema), the check that every
 * observable of a decoder agrees with it on both paths (bytes and string), and the generators of
 * lines of every kind.
 */
import { assert } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { CSV_HEADER } from "../../../src/domain/formats/Csv.ts"
import type { DecoderOptions } from "../../../src/domain/formats/Format.ts"
import { makeDecoder, type FormatName } from "../../../src/domain/formats/Formats.ts"
import type { LineDecoder } from "../../../src/domain/formats/LineDecoder.ts"
import { LogRecord } from "../../../src/domain/LogRecord.ts"
import { parseEventTimeMs } from "../../../src/domain/Timestamp.ts"

// -- the expected verdict, computed without the decoder ------------------------

export type Expected =
  | { readonly verdict: "valid"; readonly record: LogRecord; readonly eventTimeMs: number }
  | { readonly verdict: "rejected" }
  | { readonly verdict: "skip" }

export const decodeWithSchema = Schema.decodeUnknownResult(LogRecord)

export const expectedFromValue = (value: unknown): Expected => {
  const result = decodeWithSchema(value)
  if (Result.isFailure(result)) return { verdict: "rejected" }
  const record = result.success
  return { verdict: "valid", record, eventTimeMs: parseEventTimeMs(record.timestamp)! }
}

export const expectedJson = (line: string): Expected => {
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
export const referenceCsvFields = (line: string): Array<string> | undefined => {
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

export const allAsciiDigits = (text: string): boolean => {
  if (text.length === 0) return false
  for (const ch of text) if (ch < "0" || ch > "9") return false
  return true
}

export const expectedCsv = (line: string): Expected => {
  if (line === "timestamp,ip,method,url,status") return { verdict: "skip" }
  const fields = referenceCsvFields(line)
  if (fields === undefined || fields.length !== 5) return { verdict: "rejected" }
  const [timestamp, ip, method, url, status] = fields as [string, string, string, string, string]
  if (!allAsciiDigits(status)) return { verdict: "rejected" }
  return expectedFromValue({ timestamp, ip, method, url, status: Number(status) })
}

export const expectedFor = (format: FormatName, line: string): Expected =>
  format === "json" ? expectedJson(line) : expectedCsv(line)

const encoder = new TextEncoder()
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** Which path decided each line: the byte path, the string fast path, the Schema, or a rejection. */
export interface PathCounts {
  bytes: number
  fast: number
  slow: number
  rejected: number
}

export const assertValidAs = (decoder: LineDecoder, expected: Expected & { verdict: "valid" }, label: string): void => {
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
export const assertAgrees = (decoder: LineDecoder, line: string, expected: Expected, paths?: PathCounts): void => {
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
    else if ((decoder as unknown as { decoded: unknown }).decoded === undefined) paths.fast++
    else paths.slow++
  }
}

// -- generators ---------------------------------------------------------------

export const FIELDS = ["timestamp", "ip", "method", "url", "status"] as const

export const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/** A valid timestamp in 2020-2030, in Z or a random offset, with 0 to 9 fraction digits. */
export const validTimestamp: fc.Arbitrary<string> = fc.tuple(
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

export const invalidTimestamp = fc.constantFrom(
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

export const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 8 }))
export const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "DELETE"), fc.string({ maxLength: 6 }))
export const url = fc.oneof(fc.integer({ min: 1, max: 20 }).map((n) => `/resource/${n}`), fc.webUrl(), fc.string({ maxLength: 10 }))

/** Characters that stress a JSON scanner: quotes, backslashes, control characters, NUL, non-BMP, lone surrogates. */
export const awkwardString = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom("a", "/", " ", ",", "\"", "\\", "\n", "\r", "\t", "\u0000", "\u001f", "é", "😀", "\ud800", "\u2028") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) }
  ),
  maxLength: 12
})

/** The JSON text of a string, sometimes with characters rewritten as `\uXXXX` escapes (still the same string). */
export const jsonStringText = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), fc.nat()).map(([text, escape, seed]) => {
    if (!escape || text.length === 0) return JSON.stringify(text)
    const at = seed % text.length
    const code = text.charCodeAt(at)
    const head = JSON.stringify(text.slice(0, at)).slice(0, -1)
    const tail = JSON.stringify(text.slice(at + 1)).slice(1)
    return `${head}\\u${code.toString(16).padStart(4, "0")}${tail}`
  })

/** Raw JSON number texts, including forms that JSON.stringify never writes. */
export const numberText = fc.oneof(
  fc.constantFrom("404", "200", "500", "100", "599", "99", "600", "0", "-0", "-404", "404.0", "404.5", "4.04e2", "4.04E+2", "40400e-2", "404e0", "1e400", "-1e400", "9007199254740993404", "1.5", "0.0"),
  fc.integer({ min: 90, max: 610 }).map(String),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  // Not JSON at all:
  fc.constantFrom("0404", "+404", "404.", ".5", "4_04", "0x194", "NaN", "Infinity", "404 4")
)

export const jsonValueText = (field: string | undefined): fc.Arbitrary<string> => {
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

export const jsonWhitespace = fc.oneof(
  { weight: 30, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: fc.constantFrom(" ", "  ") },
  { weight: 2, arbitrary: fc.constantFrom("\t", "\n", "\r\n", " \r") },
  // Not JSON whitespace:
  { weight: 1, arbitrary: fc.constantFrom("\u00a0", "\ufeff", "\u000b", "\u0000") }
)

export const keyText = (field: string | undefined): fc.Arbitrary<string> =>
  field === undefined
    ? fc.oneof(jsonStringText(fc.string({ maxLength: 8 })), fc.constantFrom("\"Status\"", "\"__proto__\"", "\"\"", "\"statu\"", "\"timestamps\""))
    : fc.oneof({ weight: 19, arbitrary: fc.constant(JSON.stringify(field)) }, { weight: 1, arbitrary: jsonStringText(fc.constant(field)) })

/** One `"key": value` member: a record field (possibly repeated) or an extra key. */
export const member = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 1, arbitrary: fc.constant(undefined) }
).chain((field) =>
  fc.tuple(keyText(field), jsonValueText(field), jsonWhitespace, jsonWhitespace).map(([k, v, w1, w2]) => `${k}${w1}:${w2}${v}`)
)

export const objectText = (members: fc.Arbitrary<Array<string>>): fc.Arbitrary<string> =>
  fc.tuple(members, fc.array(jsonWhitespace, { minLength: 12, maxLength: 12 })).map(([ms, ws]) =>
    `${ws[0]}{${ws[1]}${ms.map((m, i) => (i === 0 ? m : `${ws[(i % 8) + 2]},${ws[(i % 7) + 3]}${m}`)).join("")}${ws[10]}}${ws[11]}`
  )

/** All five fields in a random order, plus a few extra members and sometimes a repeated field. */
export const nearValidJsonObject = fc.tuple(
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
export const canonicalJsonObject = fc.tuple(...FIELDS.map((field) => jsonValueText(field))).map((values) =>
  `{${values.map((v, i) => `${JSON.stringify(FIELDS[i])}:${v}`).join(",")}}`
)

/** Small edits that turn a line into something slightly (or very) different. */
export const corrupt = (line: fc.Arbitrary<string>): fc.Arbitrary<string> =>
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

export const csvStatus = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom("200", "404", "500", "302", "100", "599") },
  { weight: 3, arbitrary: fc.constantFrom("99", "600", "099", "0404", "00404", "404.0", " 404", "404 ", "4e2", "", "-404", "+404", "٤٠٤", "\"404\"", "99999999999999999999") },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,5}$/) }
)

/** A CSV field text: plain, or quoted with doubled quotes, or a broken quote. */
export const csvFieldText = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.oneof({ weight: 40, arbitrary: fc.constant("plain") }, { weight: 4, arbitrary: fc.constant("quoted") }, { weight: 1, arbitrary: fc.constant("broken") })).map(([v, how]) => {
    if (how === "quoted") return `"${v.replaceAll("\"", "\"\"")}"`
    if (how === "broken") return `"${v}`
    return v
  })

export const csvAwkward = fc.string({ unit: fc.constantFrom("a", ",", "\"", " ", "/", "\u0000", "é", "\t"), maxLength: 8 })

export const nearValidCsv = fc.tuple(
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

export const csvLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."\",0123456789:-TZ. a"), maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(CSV_HEADER, `${CSV_HEADER} `, `"timestamp",ip,method,url,status`, "TIMESTAMP,IP,METHOD,URL,STATUS") },
  { weight: 10, arbitrary: corrupt(nearValidCsv) },
  { weight: 1, arbitrary: jsonLine }
)

/** The agreement says little unless valid lines through both paths, and rejections, are all common. */
export const assertWellMixed = (paths: PathCounts, runs: number): void => {
  assert.isAbove(paths.bytes, runs / 25, JSON.stringify(paths))
  assert.isAbove(paths.fast, runs / 25, JSON.stringify(paths))
  assert.isAbove(paths.slow, runs / 50, JSON.stringify(paths))
  assert.isAbove(paths.rejected, runs / 10, JSON.stringify(paths))
}

/** Every line of `lines`, decoded both ways by one decoder, agrees with `expected`, and every path is well used. */
export const agreesOnEveryKind = (
  decoder: LineDecoder,
  lines: fc.Arbitrary<string>,
  expected: (line: string) => Expected,
  runs: number
): void => {
  const paths = { bytes: 0, fast: 0, slow: 0, rejected: 0 }
  fc.assert(fc.property(lines, (line) => assertAgrees(decoder, line, expected(line), paths)), { numRuns: runs })
  assertWellMixed(paths, runs)
}

/** One line through a fresh decoder: its verdict, and the decoder to read the rest from. */
export const decodeLine = (format: FormatName, line: string, options?: DecoderOptions) => {
  const decoder = makeDecoder(format, options)
  return { verdict: decoder.decode(line), decoder }
}

export const EXAMPLE =
  `{"timestamp": "2025-05-30T18:52:47.123456Z", "ip": "192.168.1.100", "method": "GET", "url": "/resource/42", "status": 404}`

/** The decoder read `EXAMPLE`'s record (the CSV examples read the same record as a row). */
export const assertExampleRecord = (verdict: string, decoder: LineDecoder): void => {
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
}
