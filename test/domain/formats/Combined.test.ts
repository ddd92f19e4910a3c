import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { CombinedDecoder } from "../../../src/domain/formats/Combined.ts"

// -- the reference: the README's rules, written with regular expressions and Date ---------------

interface ExpectedRecord {
  readonly timestamp: string
  readonly ip: string
  readonly method: string
  readonly url: string
  readonly status: number
  readonly bytes?: number
  readonly referer?: string
  readonly user_agent?: string
}

type Expected =
  | { readonly verdict: "valid"; readonly record: ExpectedRecord; readonly eventTimeMs: number }
  | { readonly verdict: "rejected" }

const REJECTED: Expected = { verdict: "rejected" }
// A quoted field's body: `\"` and `\\` are escapes, every other character (a lone backslash too) is itself.
const Q = String.raw`(?:[^"\\]|\\[^])*`
const LINE = new RegExp(String.raw`^([^ ]+) [^ ]+ [^ ]+ \[([^\]]*)\] "(${Q})" ([^ ]*) ([^ ]*)( .*)?$`, "s")
const REST = new RegExp(String.raw`^(?: +(?:"${Q}"(?= |$)|[^ "][^ ]*))* *$`, "s")
const COMBINED_PART = new RegExp(String.raw`^ +"(${Q})" +"(${Q})"(?= |$)`, "s")
const TIME = /^(\d\d)\/(\w\w\w)\/(\d\d\d\d):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/
const MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ")
const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

const unescape = (text: string): string => text.replace(/\\(["\\])/g, "$1")

const referenceTime = (text: string): { epochMs: number; iso: string } | undefined => {
  const m = TIME.exec(text)
  if (m === null) return undefined
  const [, dd, mon, yyyy, hh, mi, ss, sign, oh, om] = m.map(String)
  const month = MONTH_NAMES.indexOf(mon!)
  if (month < 0 || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59 || Number(oh) > 23 || Number(om) > 59) return undefined
  const local = new Date(0)
  local.setUTCFullYear(Number(yyyy), month, Number(dd))
  if (local.getUTCMonth() !== month || local.getUTCDate() !== Number(dd)) return undefined // 30 February
  local.setUTCHours(Number(hh), Number(mi), Number(ss), 0)
  const offsetMs = (sign === "+" ? 1 : -1) * (Number(oh) * 60 + Number(om)) * 60_000
  return {
    epochMs: local.getTime() - offsetMs,
    iso: `${yyyy}-${String(month + 1).padStart(2, "0")}-${dd}T${hh}:${mi}:${ss}${sign}${oh}:${om}`
  }
}

const expectedFor = (line: string): Expected => {
  if (line.startsWith("{")) return REJECTED
  const m = LINE.exec(line)
  if (m === null) return REJECTED
  const [, ip, timeText, requestText, status, bytes, rest = ""] = m as unknown as Array<string>
  if (!REST.test(rest)) return REJECTED
  const time = referenceTime(timeText!)
  if (time === undefined) return REJECTED
  if (!/^[0-9]+$/.test(status!) || Number(status) < 100 || Number(status) > 599) return REJECTED
  if (!/^(-|[0-9]{1,15})$/.test(bytes!)) return REJECTED
  const request = unescape(requestText!)
  const parts = request.split(" ")
  const isRequestLine = (parts.length === 2 || parts.length === 3) && !parts.includes("") && METHOD.test(parts[0]!)
  const record: Record<string, string | number> = {
    timestamp: time.iso,
    ip: ip!,
    method: isRequestLine ? parts[0]! : "-",
    url: isRequestLine ? parts[1]! : request,
    status: Number(status)
  }
  if (bytes !== "-") record["bytes"] = Number(bytes)
  const combined = COMBINED_PART.exec(rest)
  if (combined !== null) {
    const referer = unescape(combined[1]!)
    const agent = unescape(combined[2]!)
    if (referer !== "-") record["referer"] = referer
    if (agent !== "-") record["user_agent"] = agent
  }
  return { verdict: "valid", record: record as unknown as ExpectedRecord, eventTimeMs: time.epochMs }
}

// -- checking the decoder against it ----------------------------------------------------------

const encoder = new TextEncoder()
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

interface PathCounts {
  bytes: number
  judge: number
  rejected: number
}

const assertValidAs = (decoder: CombinedDecoder, expected: Expected & { verdict: "valid" }, label: string): void => {
  assert.strictEqual(decoder.status, expected.record.status, label)
  assert.strictEqual(decoder.eventTimeMs, expected.eventTimeMs, label)
  assert.deepStrictEqual({ ...decoder.record() }, expected.record, label)
  const { timestamp, ip, method, url, status, bytes, referer, user_agent } = expected.record
  assert.strictEqual(
    decoder.errorLine(),
    JSON.stringify({ timestamp, ip, method, url, status, bytes, referer, user_agent }),
    `${label}: its errors/ line`
  )
  assert.strictEqual(decoder.ip(), ip, `${label}: ip()`)
  assert.strictEqual(decoder.url(), url, `${label}: url()`)
}

/**
 * Decodes `line` as bytes inside a run of lines (ended by `\n` or `\r\n`, or last in the run), then
 * as a string (the analyzer drops a final `\r` first), and checks both against `expected`.
 */
const assertAgrees = (decoder: CombinedDecoder, line: string, expected: Expected, paths?: PathCounts, crlf = false): void => {
  const label = JSON.stringify(line)
  if (!line.includes("\n") && !line.endsWith("\r") && utf8.decode(encoder.encode(line)) === line) {
    const before = encoder.encode("x\n")
    const body = encoder.encode(line)
    const last = !crlf && line.length % 2 === 0
    const bytes = [...before, ...body, ...(last ? [] : encoder.encode(crlf ? "\r\nnext" : "\nnext"))]
    const run = line.length % 3 === 0 ? Buffer.from(bytes) : new Uint8Array(bytes)
    const end = decoder.decodeAt(run, before.length)
    if (end >= 0) {
      assert.strictEqual(end, before.length + body.length + (crlf ? 1 : 0), `${label}: where the byte path says the line ends`)
      assert.strictEqual(expected.verdict, "valid", `${label} was taken by the byte path`)
      if (expected.verdict === "valid") assertValidAs(decoder, expected, label)
      assert.strictEqual(decoder.lineText(), line, `${label}: lineText()`)
      if (paths !== undefined) paths.bytes++
    }
  }
  decoder.reason = ""
  const verdict = decoder.decode(line)
  assert.strictEqual(verdict, expected.verdict, `${label} (reason: ${decoder.reason})`)
  if (expected.verdict === "valid") assertValidAs(decoder, expected, label)
  else assert.isAbove(decoder.reason.length, 0, `no reason for ${label}`)
  if (paths !== undefined) {
    if (expected.verdict === "valid") paths.judge++
    else paths.rejected++
  }
}

// -- generators -------------------------------------------------------------------------------

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** A valid time in 2000-2040 in any offset, as the log writes it. */
const validTime = fc.tuple(
  fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
  fc.oneof(fc.constant(0), fc.constantFrom(120, -420, 330, 345, -150), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }))
).map(([ms, offset]) => {
  const local = new Date(ms + offset * 60_000)
  const sign = offset < 0 ? "-" : "+"
  return `${pad(local.getUTCDate())}/${MONTH_NAMES[local.getUTCMonth()]}/${pad(local.getUTCFullYear(), 4)}:` +
    `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ` +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`
})

const invalidTime = fc.constantFrom(
  "30/Feb/2025:18:52:47 +0000",
  "29/Feb/2025:18:52:47 +0000",
  "31/Apr/2025:18:52:47 +0000",
  "30/May/2025:24:00:00 +0000",
  "30/May/2025:18:60:00 +0000",
  "30/May/2025:18:52:60 +0000",
  "30/May/2025:18:52:47 +2400",
  "30/May/2025:18:52:47 +0060",
  "30/Mai/2025:18:52:47 +0000",
  "30/may/2025:18:52:47 +0000",
  "30/MAY/2025:18:52:47 +0000",
  "00/May/2025:18:52:47 +0000",
  "30/May/2025:18:52:47",
  "30/May/2025:18:52:47 +02:00",
  "30/May/2025 18:52:47 +0000",
  "2025-05-30T18:52:47Z",
  "30/May/25:18:52:47 +0000",
  "3/May/2025:18:52:47 +0000",
  "30/May/2025:18:52:47  +0000",
  "30/May/2025:18:52:47.123 +0000",
  "30/May/2025:18:52:47 Z",
  ""
)

/** Characters that stress the scanners: quotes, backslashes, spaces, controls, brackets, non-ASCII. */
const awkward = fc.string({
  unit: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("a", "/", "-", " ", "\"", "\\", "[", "]", "{", "\t", "\u0000", "\r", "é", "😀", "\u2028", "x", "1") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) }
  ),
  maxLength: 10
})

/** A quoted field's text: plain, with Apache's escapes, with nginx's `\xHH`, or broken. */
const quoted = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.oneof({ weight: 12, arbitrary: fc.constant("escape") }, fc.constantFrom("raw", "xhh", "unterminated"))).map(
    ([text, how]) => {
      if (how === "raw") return `"${text}"`
      if (how === "xhh") return `"${text.replace(/["\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase()}`)}\\x16\\x03"`
      if (how === "unterminated") return `"${text}`
      return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`
    }
  )

const ip = fc.oneof(
  { weight: 6, arbitrary: fc.ipV4() },
  { weight: 3, arbitrary: fc.ipV6() },
  { weight: 2, arbitrary: fc.domain() },
  { weight: 1, arbitrary: fc.constantFrom("-", "::1", "[::1]", "10.0.0.1:443", "ünïcode.example") },
  { weight: 1, arbitrary: awkward }
)
const identOrUser = fc.oneof({ weight: 10, arbitrary: fc.constant("-") }, { weight: 2, arbitrary: fc.constantFrom("frank", "user@example.com", "é") }, { weight: 1, arbitrary: awkward })

const method = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PROPFIND", "M-SEARCH") },
  { weight: 1, arbitrary: fc.constantFrom("get", "G\u00e9T", "GE\"T", "", "GET/", "(GET)") }
)
const target = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => `/resource/${n}`) },
  { weight: 2, arbitrary: fc.webPath() },
  { weight: 2, arbitrary: fc.webUrl({ withQueryParameters: true }) },
  { weight: 1, arbitrary: fc.constantFrom("/a?b=1&c=\"2\"", "/x\\y", "/ü", "*", "") },
  { weight: 1, arbitrary: awkward }
)
const protocol = fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/3", "", "FOO")
const request = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(method, target, protocol).map(([m, t, p]) => (p === "" ? `${m} ${t}` : `${m} ${t} ${p}`)) },
  { weight: 1, arbitrary: fc.constantFrom("", "-", "GET", "GET  /", "GET / HTTP/1.1 extra", " GET / HTTP/1.1", "GET / ", "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03") },
  { weight: 1, arbitrary: awkward }
)

const status = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom("200", "404", "500", "301", "400", "100", "599", "503") },
  { weight: 2, arbitrary: fc.constantFrom("99", "600", "0404", "00200", "404.0", "4e2", "", "-", "abc", "-404", "٤٠٤", "99999999999999999999") },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }).map(String) }
)
const bytes = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 10_000_000 }).map(String) },
  { weight: 3, arbitrary: fc.constant("-") },
  { weight: 1, arbitrary: fc.constantFrom("0", "007", "123456789012345", "1234567890123456", "12.5", "-1", "--", "", "1k") }
)

const referer = fc.oneof({ weight: 3, arbitrary: fc.constant("-") }, { weight: 3, arbitrary: fc.webUrl() }, { weight: 1, arbitrary: awkward })
const agent = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("-", "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Mozilla/5.0 (compatible; \"quoted\" bot)") },
  { weight: 1, arbitrary: awkward }
)

/** What follows the bytes: nothing (common), the combined pair, and sometimes extra fields. */
const tail = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  { weight: 10, arbitrary: fc.tuple(quoted(referer), quoted(agent)).map(([r, a]) => ` ${r} ${a}`) },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.tuple(quoted(referer), quoted(agent)).map(([r, a]) => ` ${r} ${a}`),
      fc.array(fc.oneof(quoted(fc.oneof(fc.ipV4(), fc.constant("-"))), fc.constantFrom("0.005", "-", "rt=0.1", "a\"b"), awkward), { minLength: 1, maxLength: 3 })
    ).map(([pair, extras]) => pair + extras.map((e) => ` ${e}`).join(""))
  },
  { weight: 1, arbitrary: fc.constantFrom(" 0.005", " \"-\"", " \"only one\" 0.2", "  \"r\" \"u\"", " \"r\"  \"u\"", " \"r\" \"u\" ", " ", " \"r\"\"u\"", " \"r\" \"u\"x", " x \"r\" \"u\"") }
)

const nearValidLine = fc.tuple(
  ip,
  identOrUser,
  identOrUser,
  fc.oneof({ weight: 15, arbitrary: validTime }, { weight: 2, arbitrary: invalidTime }),
  quoted(request),
  status,
  bytes,
  tail
).map(([i, id, u, t, r, s, b, rest]) => `${i} ${id} ${u} [${t}] ${r} ${s} ${b}${rest}`)

/** Small edits that turn a line into something slightly (or very) different. */
const corrupt = (line: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(
    line,
    fc.nat(),
    fc.nat(),
    fc.oneof({ weight: 6, arbitrary: fc.constant("none") }, fc.constantFrom("truncate", "insert", "delete")),
    fc.constantFrom(" ", "\"", "\\", "[", "]", "\u0000", "x", "0", "\t", "é")
  ).map(([text, a, b, edit, ch]) => {
    const at = text.length === 0 ? 0 : a % text.length
    if (edit === "truncate") return text.slice(0, at)
    if (edit === "insert") return text.slice(0, at) + ch + text.slice(at)
    if (edit === "delete") return text.slice(0, at) + text.slice(at + 1 + (b % 3))
    return text
  })

const combinedLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: corrupt(nearValidLine) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."\"[]/: -0123456789abcMay+\\"), maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom(`{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":404}`, "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404", "timestamp,ip,method,url,status") }
)

// -- properties -------------------------------------------------------------------------------

describe("CombinedDecoder agrees with the reference", () => {
  it("on lines of every kind, as bytes in a run and as strings", () => {
    const decoder = new CombinedDecoder()
    const paths: PathCounts = { bytes: 0, judge: 0, rejected: 0 }
    fc.assert(
      fc.property(combinedLine, fc.boolean(), (line, crlf) => assertAgrees(decoder, line, expectedFor(line), paths, crlf)),
      { numRuns: 10_000 }
    )
    // The agreement says little unless the byte path, the judge's valid lines and rejections are all common.
    assert.isAbove(paths.bytes, 10_000 / 5, JSON.stringify(paths))
    assert.isAbove(paths.judge - paths.bytes, 10_000 / 50, JSON.stringify(paths))
    assert.isAbove(paths.rejected, 10_000 / 10, JSON.stringify(paths))
  })

  it("keeps no state from one line to the next", () => {
    fc.assert(
      fc.property(fc.array(combinedLine, { minLength: 2, maxLength: 6 }), (lines) => {
        const shared = new CombinedDecoder()
        for (const line of lines) assertAgrees(shared, line, expectedFor(line))
      }),
      { numRuns: 2000 }
    )
  })

  it("reads runs of lines sharing their second (the remembered time) like separate lines", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...["30/May/2025:18:52:47 +0000", "30/May/2025:18:52:48 +0000", "30/May/2025:18:52:47 +0200", "31/May/2025:18:52:47 +0000", "30/Mai/2025:18:52:47 +0000"]), status), { minLength: 1, maxLength: 8 }), (entries) => {
        const lines = entries.map(([time, s]) => `10.0.0.1 - - [${time}] "GET /x HTTP/1.1" ${s} 12`)
        const run = Buffer.from(lines.join("\n"))
        const decoder = new CombinedDecoder()
        let start = 0
        for (const line of lines) {
          const expected = expectedFor(line)
          const end = decoder.decodeAt(run, start)
          if (end >= 0) {
            assert.strictEqual(expected.verdict, "valid", line)
            if (expected.verdict === "valid") assertValidAs(decoder, expected, line)
          }
          start += Buffer.byteLength(line) + 1
        }
      }),
      { numRuns: 1000 }
    )
  })
})

// -- examples: every rule of the README ------------------------------------------------------

const decode = (line: string) => {
  const decoder = new CombinedDecoder()
  return { verdict: decoder.decode(line), decoder }
}

/** Decodes through the byte path, which must take the line, and returns the decoder. */
const decodeBytes = (line: string) => {
  const decoder = new CombinedDecoder()
  const run = Buffer.from(`${line}\n`)
  assert.strictEqual(decoder.decodeAt(run, 0), run.length - 1, `the byte path takes ${line}`)
  return decoder
}

const NGINX = `203.0.113.7 - - [30/May/2025:20:52:47 +0200] "GET /resource/42?page=2&q=a HTTP/1.1" 404 153 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"`

describe("CombinedDecoder, examples", () => {
  it("decodes nginx's default line, on both paths", () => {
    for (const decoder of [decode(NGINX).decoder, decodeBytes(NGINX)]) {
      assert.strictEqual(decoder.status, 404)
      assert.strictEqual(decoder.eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47))
      assert.strictEqual(
        decoder.errorLine(),
        `{"timestamp":"2025-05-30T20:52:47+02:00","ip":"203.0.113.7","method":"GET","url":"/resource/42?page=2&q=a",` +
          `"status":404,"bytes":153,"referer":"https://example.com/start","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"}`
      )
    }
  })

  it("accepts the common format, without referer and user agent", () => {
    const line = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`
    for (const decoder of [decode(line).decoder, decodeBytes(line)]) {
      assert.deepStrictEqual({ ...decoder.record() }, {
        timestamp: "2000-10-10T13:55:36-07:00",
        ip: "127.0.0.1",
        method: "GET",
        url: "/apache_pb.gif",
        status: 200,
        bytes: 2326
      })
      assert.strictEqual(decoder.eventTimeMs, Date.UTC(2000, 9, 10, 20, 55, 36))
    }
  })

  it("ignores extra trailing fields (nginx's $http_x_forwarded_for, $request_time)", () => {
    const line = `${NGINX} "198.51.100.1, 10.0.0.2" 0.005`
    for (const decoder of [decode(line).decoder, decodeBytes(line)]) {
      assert.strictEqual(decoder.record().user_agent, "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0")
      assert.notInclude(decoder.errorLine(), "198.51.100.1")
    }
    // A common line with $request_time appended: one quoted field is not the combined pair.
    const common = `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 200 12 0.005`
    assert.strictEqual(decodeBytes(common).errorLine(), `{"timestamp":"2025-05-30T18:52:47+00:00","ip":"10.0.0.1","method":"GET","url":"/","status":200,"bytes":12}`)
  })

  it("takes the ip as written: IPv6 and host names", () => {
    for (const ip of ["2001:db8::8a2e:370:7334", "::ffff:192.0.2.1", "proxy.example.com"]) {
      const line = `${ip} - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 500 12 "-" "-"`
      assert.strictEqual(decode(line).decoder.ip(), ip)
      assert.strictEqual(decodeBytes(line).ip(), ip)
    }
  })

  it("reads any offset: +0530, -0000 and -1100 give their instants", () => {
    const at = (zone: string) => decodeBytes(`10.0.0.1 - - [30/May/2025:18:52:47 ${zone}] "GET / HTTP/1.1" 500 12`)
    assert.strictEqual(at("+0530").eventTimeMs, Date.UTC(2025, 4, 30, 13, 22, 47))
    assert.strictEqual(at("+0530").record().timestamp, "2025-05-30T18:52:47+05:30")
    assert.strictEqual(at("-0000").eventTimeMs, Date.UTC(2025, 4, 30, 18, 52, 47))
    assert.strictEqual(at("-1100").eventTimeMs, Date.UTC(2025, 4, 31, 5, 52, 47))
  })

  it("unescapes \\\" and \\\\ in quoted fields and keeps every other backslash sequence as written", () => {
    const line = `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET /a\\"b\\\\c\\x41 HTTP/1.1" 404 12 "-" "bot \\"x\\" \\xE2\\x80"`
    const { verdict, decoder } = decode(line)
    assert.strictEqual(verdict, "valid")
    assert.strictEqual(decoder.url(), "/a\"b\\c\\x41")
    assert.strictEqual(decoder.record().user_agent, "bot \"x\" \\xE2\\x80")
    assert.strictEqual(JSON.parse(decoder.errorLine()).url, "/a\"b\\c\\x41")
  })

  it("keeps TLS bytes sent to the HTTP port, and an empty request, as valid 400s with method -", () => {
    const tls = `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "\\x16\\x03\\x01\\x00\\xFC\\x01\\x00\\x00\\xF8\\x03\\x03" 400 157 "-" "-"`
    const { verdict, decoder } = decode(tls)
    assert.strictEqual(verdict, "valid")
    assert.deepStrictEqual({ ...decoder.record() }, {
      timestamp: "2025-05-30T18:52:47+00:00",
      ip: "10.0.0.1",
      method: "-",
      url: "\\x16\\x03\\x01\\x00\\xFC\\x01\\x00\\x00\\xF8\\x03\\x03",
      status: 400,
      bytes: 157
    })
    const empty = decodeBytes(`10.0.0.1 - - [30/May/2025:18:52:47 +0000] "" 400 0 "-" "-"`)
    assert.strictEqual(empty.errorLine(), `{"timestamp":"2025-05-30T18:52:47+00:00","ip":"10.0.0.1","method":"-","url":"","status":400,"bytes":0}`)
  })

  it("leaves bytes out when it is -, and referer and user agent when they are -", () => {
    const decoder = decodeBytes(`10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 304 - "-" "curl/8.5.0"`)
    assert.strictEqual(decoder.errorLine(), `{"timestamp":"2025-05-30T18:52:47+00:00","ip":"10.0.0.1","method":"GET","url":"/","status":304,"user_agent":"curl/8.5.0"}`)
  })

  it.each([
    ["a bad month", `10.0.0.1 - - [30/Mai/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 12`],
    ["hour 24", `10.0.0.1 - - [30/May/2025:24:52:47 +0000] "GET / HTTP/1.1" 404 12`],
    ["February 30th", `10.0.0.1 - - [30/Feb/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 12`],
    ["a time without its offset", `10.0.0.1 - - [30/May/2025:18:52:47] "GET / HTTP/1.1" 404 12`],
    ["missing brackets", `10.0.0.1 - - 30/May/2025:18:52:47 +0000 "GET / HTTP/1.1" 404 12`],
    ["a missing ]", `10.0.0.1 - - [30/May/2025:18:52:47 +0000 "GET / HTTP/1.1" 404 12`],
    ["a non-numeric status", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" abc 12`],
    ["status 600", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 600 12`],
    ["status 99", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 99 12`],
    ["non-numeric bytes", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 1k`],
    ["no bytes field", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 404`],
    ["an unterminated request", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1 404 12`],
    ["an unterminated user agent", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 12 "-" "curl`],
    ["an escaped closing quote", `10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1\\" 404 12`],
    ["a missing user field", `10.0.0.1 - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 12`],
    ["a JSON line", `{"timestamp":"2025-05-30T18:52:47Z","ip":"1.2.3.4","method":"GET","url":"/x","status":404}`],
    ["a CSV line", "2025-05-30T18:52:47Z,1.2.3.4,GET,/x,404"],
    ["the empty line", ""]
  ])("rejects %s with a reason", (_name, line) => {
    const { verdict, decoder } = decode(line)
    assert.strictEqual(verdict, "rejected")
    assert.isAbove(decoder.reason.length, 0)
    assert.strictEqual(new CombinedDecoder().decodeAt(Buffer.from(line), 0), -1, "the byte path hands it to the judge")
  })

  it("names the culprit in the reason", () => {
    assert.match(decode(`10.0.0.1 - - [30/Mai/2025:18:52:47 +0000] "GET / HTTP/1.1" 404 12`).decoder.reason, /time/)
    assert.match(decode(`10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1" 700 12`).decoder.reason, /status/)
    assert.match(decode(`{"status":404}`).decoder.reason, /JSON/)
    assert.match(decode(`10.0.0.1 - - [30/May/2025:18:52:47 +0000] "GET / HTTP/1.1 404 12`).decoder.reason, /unterminated/)
  })
})
