import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { CSV_HEADER } from "../../../src/domain/formats/Csv.ts"
import { parseFieldMapping, type FieldMapping, type RecordField } from "../../../src/domain/formats/FieldMapping.ts"
import { makeDecoder } from "../../../src/domain/formats/Formats.ts"
import { parseEventTimeMs } from "../../../src/domain/Timestamp.ts"
import {
  agreesOnEveryKind,
  assertExampleRecord,
  assertAgrees,
  corrupt,
  decodeLine,
  EXAMPLE,
  type Expected,
  expectedJson,
  invalidTimestamp,
  ip,
  jsonLine,
  jsonStringText,
  jsonValueText,
  jsonWhitespace,
  method,
  url,
  validTimestamp
} from "./agreement.ts"

// -- the reference for logs mapped with --field, from the README's rules ----------

const FIELDS: ReadonlyArray<RecordField> = ["timestamp", "ip", "method", "url", "status"]
const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** An epoch number as the README says: below 10^11 seconds (rounded to the microsecond), else milliseconds. */
const epochMs = (value: number): number | undefined => {
  if (!Number.isFinite(value) || value < 0) return undefined
  const ms = value < 1e11 ? Math.floor(Math.round(value * 1e6) / 1000) : Math.floor(value)
  return ms <= LAST_INSTANT_MS ? ms + 0 : undefined
}

const valueAt = (value: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>(
    (current, key) =>
      current !== null && typeof current === "object" && !Array.isArray(current) && Object.hasOwn(current, key)
        ? (current as Record<string, unknown>)[key]
        : undefined,
    value
  )

const expectedMapped = (mapping: FieldMapping) => (line: string): Expected => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { verdict: "rejected" }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { verdict: "rejected" }
  const [t, ip, method, url, s] = FIELDS.map((name) => valueAt(value, mapping[name] ?? [name]))
  if (typeof ip !== "string" || typeof method !== "string" || typeof url !== "string") return { verdict: "rejected" }
  let status: number
  if (typeof s === "number" && Number.isInteger(s) && s >= 100 && s <= 599) status = s
  else if (typeof s === "string" && /^[0-9]+$/.test(s) && Number(s) >= 100 && Number(s) <= 599) status = Number(s)
  else return { verdict: "rejected" }
  const iso = typeof t === "string" ? parseEventTimeMs(t) : undefined
  if (iso !== undefined) return { verdict: "valid", record: { timestamp: t as string, ip, method, url, status }, eventTimeMs: iso }
  const epoch = typeof t === "number"
    ? epochMs(t)
    : typeof t === "string" && /^[0-9]+(\.[0-9]+)?$/.test(t)
    ? epochMs(Number(t))
    : undefined
  if (epoch === undefined) return { verdict: "rejected" }
  return { verdict: "valid", record: { timestamp: new Date(epoch).toISOString(), ip, method, url, status }, eventTimeMs: epoch }
}

const mappingOf = (...flags: Array<string>): FieldMapping => {
  const parsed = parseFieldMapping(flags)
  if (!parsed.ok) throw new Error(parsed.message)
  return parsed.value
}

const NGINX = mappingOf("timestamp=time_iso8601", "ip=remote_addr", "method=request_method", "url=request_uri")
const CADDY = mappingOf("timestamp=ts", "ip=request.remote_ip", "method=request.method", "url=request.uri")

// -- generators for mapped logs ------------------------------------------------------

const epochText = fc.oneof(
  fc.integer({ min: 0, max: 4_000_000_000 }).map(String),
  fc.double({ min: 0, max: 4e9, noNaN: true }).map((d) => JSON.stringify(d)),
  fc.integer({ min: 1e11, max: 4e12 }).map(String),
  fc.constantFrom(
    "0", "-0", "-1", "99999999999", "99999999999.9999", "100000000000", "253402300799999", "253402300800000",
    "1e10", "1.5e9", "1E12", "1e400", "1748631167.123", "1748631167.1234567", "1748631167123.9", "0.0005", "01", "1."
  )
)

/** A mapped timestamp: ISO, an epoch number, an epoch in a string, or something else. */
const lenientTimestampText = fc.oneof(
  { weight: 6, arbitrary: jsonStringText(validTimestamp) },
  { weight: 6, arbitrary: epochText },
  { weight: 3, arbitrary: epochText.map((text) => JSON.stringify(text)) },
  { weight: 1, arbitrary: jsonStringText(invalidTimestamp) },
  { weight: 1, arbitrary: fc.constantFrom("\"1e9\"", "\" 17\"", "\".5\"", "\"0x10\"", "\"\"", "null", "true", "[1]", "{}") }
)

/** A mapped status: an integer, a string of digits, or something else. */
const lenientStatusText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(200, 404, 500, 302, 100, 599).map(String) },
  { weight: 6, arbitrary: fc.constantFrom("200", "404", "500", "0404", "100", "599").map((text) => JSON.stringify(text)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("\"99\"", "\"600\"", "\"\"", "\"40a\"", "\" 404\"", "\"404.0\"", "\"4e2\"", "404.0", "4.04e2", "99", "600", "null")
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,6}$/).map((text) => JSON.stringify(text)) }
)

const mappedValueText = (field: RecordField | undefined): fc.Arbitrary<string> =>
  field === "timestamp" ? lenientTimestampText : field === "status" ? lenientStatusText : jsonValueText(field)

/** A flat object with the mapped keys in any order, extra members (the record's own names among them), any whitespace. */
const flatMappedLine = (mapping: FieldMapping): fc.Arbitrary<string> =>
  fc.tuple(
    // Now and then a field is missing.
    fc.oneof(
      { weight: 6, arbitrary: fc.shuffledSubarray([...FIELDS], { minLength: 5, maxLength: 5 }) },
      { weight: 1, arbitrary: fc.shuffledSubarray([...FIELDS], { minLength: 4, maxLength: 4 }) }
    ),
    fc.array(fc.constantFrom<RecordField | "bytes" | "user_agent">("bytes", "user_agent", "timestamp", "status", "ip"), { maxLength: 3 }),
    fc.array(jsonWhitespace, { minLength: 4, maxLength: 4 }),
    fc.nat()
  ).chain(([order, extras, ws, seed]) =>
    fc.tuple(
      fc.tuple(...order.map((field) => mappedValueText(field).map((v) => `${JSON.stringify(mapping[field]?.[0] ?? field)}:${ws[0]}${v}`))),
      fc.tuple(...extras.map((name) => jsonValueText(undefined).map((v) => `${JSON.stringify(name)}:${v}`)))
    ).map(([members, extraMembers]) => {
      const all = [...members]
      for (const extra of extraMembers) all.splice(seed % (all.length + 1), 0, extra)
      return `${ws[1]}{${all.join(`,${ws[2]}`)}}${ws[3]}`
    })
  )

/** Caddy's shape: `ts` and `status` on top, the request's fields nested, other members around them. */
const caddyLine: fc.Arbitrary<string> = fc.record({
  ts: lenientTimestampText,
  status: lenientStatusText,
  remote_ip: jsonStringText(ip),
  method: jsonStringText(method),
  uri: jsonStringText(url),
  request: fc.constantFrom("object", "object", "object", "object", "object", "missing", "array", "string"),
  drop: fc.constantFrom("none", "none", "none", "none", "none", "ts", "remote_ip", "uri", "status"),
  // A repeated key, which JSON.parse resolves to the last.
  repeat: fc.constantFrom("none", "none", "none", "none", "request", "emptied", "remote_ip", "ts"),
  other: jsonStringText(ip)
}).map((r) => {
  const request = r.drop === "remote_ip"
    ? `{"method":${r.method},"uri":${r.uri},"headers":{"Accept":["*/*"]}}`
    : r.drop === "uri"
    ? `{"remote_ip":${r.remote_ip},"method":${r.method}}`
    : `{"remote_ip":${r.remote_ip},"remote_port":"51234","method":${r.method},"host":"example.com","uri":${r.uri},"headers":{"User-Agent":["curl/8"]}${
      r.repeat === "remote_ip" ? `,"remote_ip":${r.other}` : ""
    }}`
  const members = [
    `"level":"info"`,
    r.repeat === "ts" ? `"ts":${r.other}` : undefined,
    r.repeat === "request" ? `"request":{"remote_ip":${r.other},"method":"GET","uri":"/first"}` : undefined,
    r.drop === "ts" ? undefined : `"ts":${r.ts}`,
    `"logger":"http.log.access"`,
    r.request === "missing" ? undefined : `"request":${r.request === "array" ? `[${request}]` : r.request === "string" ? "\"x\"" : request}`,
    `"duration":0.000412`,
    r.repeat === "emptied" ? `"request":{"host":"example.com"}` : undefined,
    r.drop === "status" ? undefined : `"status":${r.status}`
  ]
  return `{${members.filter((m) => m !== undefined).join(",")}}`
})

/** Mostly `plain`, else `any`. */
const mostly = (plain: fc.Arbitrary<string>, any: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ weight: 8, arbitrary: plain }, { weight: 1, arbitrary: any })

/** The keys `required` and some of `optional`, in any order. */
const orderOf = (required: ReadonlyArray<string>, optional: ReadonlyArray<string>): fc.Arbitrary<Array<string>> =>
  fc.subarray([...optional]).chain((some) => {
    const keys = [...required, ...some]
    return fc.shuffledSubarray(keys, { minLength: keys.length, maxLength: keys.length })
  })

// The ip two objects deep: the layouts then open and close objects inside one separator.
const DEEP = mappingOf("timestamp=ts", "ip=request.client.ip", "method=request.method", "url=request.uri")

/**
 * Nested layouts for `DEEP` (member order at each level, whitespace, extra members at every depth,
 * now and then a path object missing, repeated or not an object), each repeated with other values,
 * some of them wrong, and some lines corrupted: the learned-layout path of dotted paths.
 */
const nestedLayoutLines: fc.Arbitrary<Array<string>> = fc.array(
  fc.record({
    top: orderOf(["ts", "request", "status"], ["level", "size"]),
    request: orderOf(["client", "method", "uri"], ["headers", "host"]),
    client: orderOf(["ip"], ["port"]),
    space: fc.array(fc.constantFrom("", "", " ", "\t"), { minLength: 3, maxLength: 3 }),
    oddity: fc.constantFrom("none", "none", "none", "none", "none", "none", "repeated request", "client not an object", "empty client")
  }),
  { minLength: 1, maxLength: 4 }
).chain((layouts) =>
  fc.constant(
    fc.tuple(
      fc.nat({ max: layouts.length - 1 }),
      mostly(fc.oneof(validTimestamp.map((t) => JSON.stringify(t)), fc.double({ min: 1e9, max: 2e9, noNaN: true }).map(String)), lenientTimestampText),
      mostly(fc.constantFrom("200", "404", "500", "\"404\""), lenientStatusText),
      mostly(fc.ipV4().map((t) => JSON.stringify(t)), jsonValueText("ip")),
      mostly(fc.constantFrom("\"GET\"", "\"POST\""), jsonValueText("method")),
      mostly(url.map((t) => JSON.stringify(t)), jsonValueText("url")),
      jsonValueText(undefined)
    ).map(([which, ts, status, ip, method, uri, extra]) => {
      const { client, oddity, request, space: [colon, comma, close], top } = layouts[which]!
      const object = (members: ReadonlyArray<string>) => `{${members.join(`,${comma}`)}${close}}`
      const pair = (key: string, value: string) => `${JSON.stringify(key)}:${colon}${value}`
      const values: Record<string, string> = { ip, port: "51234", method, uri, headers: `{"Accept":["*/*"],"X":${extra}}`, host: extra, level: "\"info\"", size: extra, ts, status }
      const clientText = oddity === "client not an object" ? JSON.stringify(ip) : oddity === "empty client" ? "{}" : object(client.map((key) => pair(key, values[key]!)))
      const requestText = object(request.map((key) => pair(key, key === "client" ? clientText : values[key]!)))
      const members = top.map((key) => pair(key, key === "request" ? requestText : values[key]!))
      if (oddity === "repeated request") members.push(pair("request", `{"method":"GET"}`))
      return object(members)
    })
  ).chain((line) => fc.array(fc.oneof({ weight: 5, arbitrary: line }, { weight: 1, arbitrary: corrupt(line) }), { minLength: 5, maxLength: 40 }))
)

/** A few layouts (key order, whitespace, extra members), each repeated with other values: the learned-layout path. */
const layoutLines: fc.Arbitrary<Array<string>> = fc.array(
  fc.tuple(
    fc.shuffledSubarray([...FIELDS, "bytes", "agent"], { minLength: 5, maxLength: 7 }),
    fc.array(fc.constantFrom("", "", " ", "\t"), { minLength: 4, maxLength: 4 })
  ),
  { minLength: 1, maxLength: 4 }
).chain((layouts) =>
  fc.array(
    fc.nat({ max: layouts.length - 1 }).chain((which) => {
      const [keys, [before, after, afterComma, end]] = layouts[which]!
      return fc.tuple(...keys.map((key) => jsonValueText(key === "bytes" || key === "agent" ? undefined : key))).map((values) =>
        `{${keys.map((key, i) => `${i === 0 ? "" : `,${afterComma}`}${JSON.stringify(key)}${before}:${after}${values[i]}`).join("")}}${end}`
      )
    }),
    { minLength: 5, maxLength: 40 }
  )
)

/**
 * Figure 9's shapes (bench/run.mjs): four layouts of real JSON access logs (compact with extras
 * after the five fields, Python's spacing, reordered with `null` and booleans, extras first),
 * timestamps with 0 to 9 fraction digits and any offset, and now and then a value the fast path
 * must hand on.
 */
const variedLine: fc.Arbitrary<string> = fc.record({
  layout: fc.nat({ max: 3 }),
  timestamp: fc.oneof({ weight: 20, arbitrary: validTimestamp.map((t) => JSON.stringify(t)) }, jsonValueText("timestamp")),
  ip: fc.oneof({ weight: 20, arbitrary: fc.ipV4().map((t) => JSON.stringify(t)) }, jsonValueText("ip")),
  method: fc.oneof({ weight: 20, arbitrary: fc.constantFrom("GET", "POST", "HEAD").map((t) => JSON.stringify(t)) }, jsonValueText("method")),
  url: fc.oneof({ weight: 20, arbitrary: url.map((t) => JSON.stringify(t)) }, jsonValueText("url")),
  status: fc.oneof({ weight: 20, arbitrary: fc.constantFrom(200, 304, 400, 403, 404, 500, 503).map(String) }, jsonValueText("status")),
  bytes: fc.oneof({ weight: 9, arbitrary: fc.nat({ max: 50_000 }).map(String) }, jsonValueText(undefined)),
  seconds: fc.oneof({ weight: 9, arbitrary: fc.nat({ max: 5000 }).map((n) => String(n / 1000)) }, jsonValueText(undefined)),
  agent: fc.oneof({ weight: 9, arbitrary: fc.constantFrom("curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:126.0)").map((t) => JSON.stringify(t)) }, jsonValueText(undefined)),
  cached: fc.constantFrom("true", "false", "null")
}).map((r) => {
  switch (r.layout) {
    case 0:
      return `{"timestamp":${r.timestamp},"ip":${r.ip},"method":${r.method},"url":${r.url},"status":${r.status},"bytes":${r.bytes},"user_agent":${r.agent},"request_time":${r.seconds}}`
    case 1:
      return `{"timestamp": ${r.timestamp}, "ip": ${r.ip}, "method": ${r.method}, "url": ${r.url}, "status": ${r.status}, "bytes": ${r.bytes}, "referer": "-"}`
    case 2:
      return `{"ip":${r.ip},"status":${r.status},"timestamp":${r.timestamp},"url":${r.url},"method":${r.method},"upstream":null,"cached":${r.cached}}`
    default:
      return `{"level":"info","host":"web-${r.bytes.length}","timestamp":${r.timestamp},"request_time":${r.seconds},"ip":${r.ip},"method":${r.method},"url":${r.url},"status":${r.status}}`
  }
})

/**
 * `line` inside a Buffer run (as a file or socket hands it over), through the byte path: if taken,
 * the line is valid and its errors/ line, ip and url are the Schema's, asked for in the analysis's
 * order (errors/ line first) and the other way round.
 */
const agreesInBuffer = (decoder: ReturnType<typeof makeDecoder>, line: string, expected: Expected): boolean => {
  const run = Buffer.from(`{"x":1}\n${line}\n{"y":2}`)
  const start = Buffer.byteLength(`{"x":1}\n`)
  const end = decoder.decodeAt(run, start)
  if (end < 0) return false
  assert.strictEqual(end, start + Buffer.byteLength(line), line)
  assert.strictEqual(expected.verdict, "valid", `${line} was taken by the byte path`)
  if (expected.verdict !== "valid") return true
  const { ip, method, status, timestamp, url } = expected.record
  const errorLine = JSON.stringify({ timestamp, ip, method, url, status })
  assert.strictEqual(decoder.errorLine(), errorLine, line)
  assert.strictEqual(decoder.ip(), ip, line)
  assert.strictEqual(decoder.url(), url, line)
  assert.deepStrictEqual({ ...decoder.record() }, { ...expected.record }, line)
  assert.strictEqual(decoder.eventTimeMs, expected.eventTimeMs, line)
  assert.strictEqual(decoder.decodeAt(run, start), end, line)
  assert.strictEqual(decoder.url(), url, line)
  assert.strictEqual(decoder.ip(), ip, line)
  assert.strictEqual(decoder.errorLine(), errorLine, line)
  return true
}

/**
 * Batches of lines, each batch through a fresh decoder (so that layouts are learned and reused), every
 * line both ways and in a Buffer run; returns how many lines there were, how many the expectation
 * calls valid, and how many the byte path took.
 */
const agreesThroughOneDecoder = (
  newDecoder: () => ReturnType<typeof makeDecoder>,
  batches: fc.Arbitrary<ReadonlyArray<string>>,
  expectedOf: (line: string) => Expected,
  runs: number
) => {
  const counts = { lines: 0, valid: 0, taken: 0 }
  fc.assert(
    fc.property(batches, (batch) => {
      const decoder = newDecoder()
      for (const line of batch) {
        const expected = expectedOf(line)
        counts.lines++
        if (expected.verdict === "valid") counts.valid++
        if (agreesInBuffer(decoder, line, expected)) counts.taken++
        assertAgrees(decoder, line, expected)
      }
    }),
    { numRuns: runs }
  )
  return counts
}

describe("the JSON decoder agrees with JSON.parse + the LogRecord Schema", () => {
  it("on figure 9's varied shapes, through one decoder, in Buffer runs and as strings", () => {
    const { lines, taken } = agreesThroughOneDecoder(
      () => makeDecoder("json"),
      fc.array(variedLine, { minLength: 1, maxLength: 30 }),
      expectedJson,
      300
    )
    // Most lines are valid, and the byte path takes nearly all of those once their layout is known.
    assert.isAbove(taken, lines / 4)
  })

  it("on lines of a few layouts repeated, through one decoder (layouts learned and reused)", () => {
    fc.assert(
      fc.property(layoutLines, (lines) => {
        const decoder = makeDecoder("json")
        for (const line of lines) assertAgrees(decoder, line, expectedJson(line))
      }),
      { numRuns: 400 }
    )
  })

  it("on JSON lines of every kind", () => agreesOnEveryKind(makeDecoder("json"), jsonLine, expectedJson, 10_000))
})

describe("the JSON decoder with --field agrees with the README's rules for mapped logs", () => {
  it("nginx's names, flat: every kind of line, both paths", () =>
    agreesOnEveryKind(makeDecoder("json", { fields: NGINX }), fc.oneof(
      { weight: 6, arbitrary: flatMappedLine(NGINX) },
      { weight: 3, arbitrary: corrupt(flatMappedLine(NGINX)) },
      { weight: 1, arbitrary: jsonLine }
    ), expectedMapped(NGINX), 6000))

  it("one field renamed: the others keep their names, and the lenient forms apply to all", () => {
    const mapping = mappingOf("timestamp=time")
    agreesOnEveryKind(makeDecoder("json", { fields: mapping }), fc.oneof(
      { weight: 4, arbitrary: flatMappedLine(mapping) },
      { weight: 1, arbitrary: corrupt(flatMappedLine(mapping)) }
    ), expectedMapped(mapping), 3000)
  })

  it("dotted paths two objects deep, in lines of a few layouts repeated, through one decoder (layouts learned and reused)", () => {
    const { lines, taken, valid } = agreesThroughOneDecoder(
      () => makeDecoder("json", { fields: DEEP }),
      nestedLayoutLines,
      expectedMapped(DEEP),
      400
    )
    // Many lines are valid (about 58 %), and the byte path takes nearly all of those (about 92 %).
    assert.isAbove(valid, lines / 3)
    assert.isAbove(taken, valid * 0.8)
  })

  it("Caddy's nested paths: every kind of line, both paths", () =>
    agreesOnEveryKind(makeDecoder("json", { fields: CADDY }), fc.oneof(
      { weight: 6, arbitrary: caddyLine },
      { weight: 2, arbitrary: corrupt(caddyLine) },
      { weight: 1, arbitrary: flatMappedLine(CADDY) }
    ), expectedMapped(CADDY), 4000))
})

describe("the JSON decoder with --field, examples", () => {
  const decode = (mapping: FieldMapping, line: string) => decodeLine("json", line, { fields: mapping })

  it("reads nginx's escape=json line, its status a string of digits", () => {
    const { decoder, verdict } = decode(
      NGINX,
      `{"time_iso8601":"2025-05-30T20:52:47+02:00","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/api/items?id=7","status":"404","body_bytes_sent":"153","http_user_agent":"curl/8.5.0"}`
    )
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47))
    assert.strictEqual(
      decoder.errorLine(),
      `{"timestamp":"2025-05-30T20:52:47+02:00","ip":"203.0.113.7","method":"GET","url":"/api/items?id=7","status":404}`
    )
  })

  it("reads Caddy's line: ts in epoch seconds with a fraction, the request nested", () => {
    const { decoder, verdict } = decode(
      CADDY,
      `{"level":"info","ts":1748631167.5231447,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"198.51.100.23","remote_port":"51234","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/missing?x=1","headers":{"User-Agent":["curl/8.5.0"]}},"duration":0.000412,"size":9,"status":404}`
    )
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47, 523))
    assert.strictEqual(
      decoder.errorLine(),
      `{"timestamp":"2025-05-30T18:52:47.523Z","ip":"198.51.100.23","method":"GET","url":"/missing?x=1","status":404}`
    )
  })

  it("reads a line along a learned nested layout only while its objects close where they did", () => {
    const decoder = makeDecoder("json", { fields: DEEP })
    // The last value two objects deep: they close after it, before the line's own brace.
    const line = (ip: string, close: string) => `{"ts":1748631167.5,"status":404,"request":{"method":"GET","uri":"/a","client":{"ip":"${ip}"${close}}}`
    const at = (text: string) => {
      const run = Buffer.from(`${text}\n`)
      return decoder.decodeAt(run, 0)
    }
    // The first line is read key by key and its layout learned; the next one is read along it.
    assert.strictEqual(at(line("192.0.2.1", "}")), line("192.0.2.1", "}").length)
    assert.strictEqual(at(line("192.0.2.22", "}")), line("192.0.2.22", "}").length)
    assert.strictEqual(decoder.ip(), "192.0.2.22")
    // Whitespace before a closing brace is JSON's; anything else is not.
    assert.strictEqual(at(line("192.0.2.3", " \t}")), line("192.0.2.3", " \t}").length)
    for (const close of ["]", "x", "", ",}", "}}"]) {
      const text = line("192.0.2.4", close)
      assert.strictEqual(at(text), -1, text)
      assert.strictEqual(decoder.decode(text), "rejected", text)
    }
    // A member after the last one learned: read key by key, still valid.
    const longer = line("192.0.2.5", `,"port":1}`)
    assert.strictEqual(at(longer), longer.length)
    assert.strictEqual(decoder.ip(), "192.0.2.5")
  })

  it("tells epoch seconds from milliseconds at 10^11, and keeps exact decimal milliseconds", () => {
    const mapping = mappingOf("timestamp=t")
    const at = (t: string) => {
      const { decoder, verdict } = decode(mapping, `{"t":${t},"ip":"1.2.3.4","method":"GET","url":"/x","status":500}`)
      return verdict === "valid" ? decoder.eventTimeMs : verdict
    }
    assert.strictEqual(at("99999999999"), 99_999_999_999_000) // seconds: year 5138
    assert.strictEqual(at("100000000000"), 100_000_000_000) // milliseconds: 1973-03-03
    assert.strictEqual(at("1748631167.123"), 1_748_631_167_123)
    assert.strictEqual(at("1748631167123"), 1_748_631_167_123)
    assert.strictEqual(at("1748631167123.9"), 1_748_631_167_123)
    assert.strictEqual(at("\"1748631167.5\""), 1_748_631_167_500) // nginx's $msec, in a string
    assert.strictEqual(at("253402300799999"), 253_402_300_799_999)
    for (const bad of ["253402300800000", "-1", "1e400", "\"1e9\"", "\"\"", "null"]) assert.strictEqual(at(bad), "rejected", bad)
  })

  it("rejects a line missing a mapped field, and says which --field mapping it used", () => {
    const { decoder, verdict } = decode(CADDY, `{"ts":1748631167.5,"request":{"method":"GET","uri":"/x"},"status":404}`)
    assert.strictEqual(verdict, "rejected")
    assert.include(decoder.reason, "ip")
    assert.include(decoder.reason, "--field timestamp=ts ip=request.remote_ip method=request.method url=request.uri")
  })

  it("without --field, keeps the strict record: no epoch timestamps, no status strings", () => {
    const decoder = makeDecoder("json")
    assert.strictEqual(decoder.decode(`{"timestamp":1748631167,"ip":"1.2.3.4","method":"GET","url":"/x","status":404}`), "rejected")
    assert.strictEqual(decoder.decode(`{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":"404"}`), "rejected")
  })
})

const decodeJson = (line: string) => decodeLine("json", line)

describe("the JSON decoder, examples", () => {
  it("decodes the seed's example line (the README's record example, with microseconds)", () => {
    const { verdict, decoder } = decodeJson(EXAMPLE)
    assertExampleRecord(verdict, decoder)
  })

  it("reads a +02:00 offset with six fractional digits as the UTC instant, truncated", () => {
    const { verdict, decoder } = decodeJson(
      `{"timestamp":"2025-05-30T20:52:47.999999+02:00","ip":"10.0.0.1","method":"POST","url":"/a","status":500}`
    )
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47, 999))
    assert.strictEqual(decoder.record().timestamp, "2025-05-30T20:52:47.999999+02:00")
  })

  it("leaves trailing whitespace out of the errors/ line of a line given as a string", () => {
    // The framing hands on `…}\r` of `…}\r\r\n` (one \r is the line end's): the other is JSON whitespace.
    const canonical = `{"timestamp":"2025-05-30T18:45:00Z","ip":"10.0.0.1","method":"GET","url":"/resource/1","status":503}`
    for (const tail of ["", "\r", " ", "\t\r", " \r"]) {
      const { verdict, decoder } = decodeJson(canonical + tail)
      assert.strictEqual(verdict, "valid", JSON.stringify(tail))
      assert.strictEqual(decoder.errorLine(), canonical, JSON.stringify(tail))
    }
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

