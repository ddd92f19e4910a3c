/**
 * The access-log record and the two line formats that carry it.
 *
 * `LogRecord` (a Schema) is the definition of a valid record. Decoding every
 * line through the generic Schema machinery is too slow for a million lines a
 * second, so `RecordDecoder` has a hand-written fast path for the common shape
 * of a line. Whenever the fast path meets anything unusual (escapes, extra
 * value kinds, duplicate keys, a failed check) it hands the line to the Schema,
 * so the Schema alone decides every doubtful case and writes every rejection
 * reason. The property tests check that both paths agree on every input.
 */
import * as Schema from "effect/Schema"
import * as Result from "effect/Result"
import { parseEventTimeMs } from "./Timestamp.ts"

export const Timestamp = Schema.String.check(
  Schema.makeFilter((text: string) => parseEventTimeMs(text) !== undefined, {
    expected: "an ISO-8601 timestamp with a zone, such as 2025-05-30T18:52:47.123Z"
  })
)

export const Status = Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 599 }))

export const LogRecord = Schema.Struct({
  timestamp: Timestamp,
  ip: Schema.String,
  method: Schema.String,
  url: Schema.String,
  status: Status
})
export type LogRecord = typeof LogRecord.Type

export type LineFormat = "json" | "csv"

export const CSV_HEADER = "timestamp,ip,method,url,status"

/** An error is a valid record with `status >= 400`. */
export const isErrorStatus = (status: number): boolean => status >= 400

const decodeRecord = Schema.decodeUnknownResult(LogRecord)

/**
 * Decodes one line at a time into its own mutable fields, so that the hot loop
 * allocates nothing for the 90 % of lines that are not errors. After
 * `decode(line)` returns `"valid"`, read `eventTimeMs` and `status`; call
 * `record()` only for the lines you keep. After `"rejected"`, read `reason`.
 */
export class RecordDecoder {
  eventTimeMs = 0
  status = 0
  reason = ""
  private line = ""
  // Either slice bounds into `line` (fast path) or decoded strings (slow path).
  private timestampStart = 0
  private timestampEnd = 0
  private ipStart = 0
  private ipEnd = 0
  private methodStart = 0
  private methodEnd = 0
  private urlStart = 0
  private urlEnd = 0
  private decoded: LogRecord | undefined = undefined
  // Set by `canonicalJson` and `fastCsv`: the ip, method and url bounds are found only if `record()` is called.
  private boundsPending = false

  constructor(readonly format: LineFormat) {}

  /** `"skip"` for the CSV header line. Blank lines are the splitter's business. */
  decode(line: string): "valid" | "rejected" | "skip" {
    this.line = line
    this.decoded = undefined
    this.boundsPending = false
    if (this.format === "json") {
      return this.canonicalJson(line) || this.fastJson(line) ? "valid" : this.slowJson(line)
    }
    if (line === CSV_HEADER) return "skip"
    return this.fastCsv(line) ? "valid" : this.slowCsv(line)
  }

  /** The record of the last valid line. */
  record(): LogRecord {
    if (this.decoded !== undefined) return this.decoded
    const line = this.line
    if (this.boundsPending) this.findPendingBounds(line)
    return {
      timestamp: line.slice(this.timestampStart, this.timestampEnd),
      ip: line.slice(this.ipStart, this.ipEnd),
      method: line.slice(this.methodStart, this.methodEnd),
      url: line.slice(this.urlStart, this.urlEnd),
      status: this.status
    }
  }

  /**
   * The `errors/` line for `record` (from `record()` of the last valid line):
   * its five fields, in order. Strings taken by a JSON fast path hold no quote,
   * backslash or control character, so they need no escaping and the line is
   * built directly; CSV fields and the Schema path's strings go through
   * `JSON.stringify`.
   */
  errorLine(record: LogRecord): string {
    if (this.decoded !== undefined || this.format === "csv") {
      return JSON.stringify({
        timestamp: record.timestamp,
        ip: record.ip,
        method: record.method,
        url: record.url,
        status: record.status
      })
    }
    return `{"timestamp":"${record.timestamp}","ip":"${record.ip}","method":"${record.method}","url":"${record.url}","status":${record.status}}`
  }

  // -- fast paths: return false to defer to the Schema ----------------------

  /**
   * The shape every generator writes, `{"timestamp":"…","ip":"…","method":"…","url":"…","status":NNN}`,
   * recognised by one compiled regular expression (native code, no JavaScript loop per character).
   * Only the timestamp and status are read for every line; the other fields' bounds are found in
   * `record()`, which runs for errors only. Anything else goes to `fastJson`.
   */
  private canonicalJson(line: string): boolean {
    if (!CANONICAL_JSON.test(line)) return false
    this.timestampStart = KEY_TIMESTAMP.length
    this.timestampEnd = line.indexOf("\"", KEY_TIMESTAMP.length)
    const n = line.length
    this.status = (line.charCodeAt(n - 4) - 48) * 100 + (line.charCodeAt(n - 3) - 48) * 10 + line.charCodeAt(n - 2) - 48
    this.boundsPending = true
    return this.checkFields(line)
  }

  /** The ip, method and url bounds of a line `canonicalJson` or `fastCsv` accepted. */
  private findPendingBounds(line: string): void {
    this.boundsPending = false
    const csv = this.format === "csv"
    const end = csv ? "," : "\""
    this.ipStart = this.timestampEnd + (csv ? 1 : KEY_IP.length)
    this.ipEnd = line.indexOf(end, this.ipStart)
    this.methodStart = this.ipEnd + (csv ? 1 : KEY_METHOD.length)
    this.methodEnd = line.indexOf(end, this.methodStart)
    this.urlStart = this.methodEnd + (csv ? 1 : KEY_URL.length)
    this.urlEnd = line.indexOf(end, this.urlStart)
  }

  private fastJson(line: string): boolean {
    const length = line.length
    let position = skipWhitespace(line, 0)
    if (line.charCodeAt(position) !== 123 /* { */) return false
    let seen = 0
    for (;;) {
      position = skipWhitespace(line, position + 1)
      if (line.charCodeAt(position) !== 34 /* " */) return false
      const keyStart = position + 1
      const keyEnd = endOfPlainString(line, keyStart)
      if (keyEnd < 0) return false
      position = skipWhitespace(line, keyEnd + 1)
      if (line.charCodeAt(position) !== 58 /* : */) return false
      position = skipWhitespace(line, position + 1)
      const field = fieldOf(line, keyStart, keyEnd - keyStart)
      if (field !== 0 && (seen & field) !== 0) return false // duplicate key: let JSON.parse decide which wins
      seen |= field
      const first = line.charCodeAt(position)
      if (first === 34) {
        const valueStart = position + 1
        const valueEnd = endOfPlainString(line, valueStart)
        if (valueEnd < 0) return false
        if (field === TIMESTAMP) {
          this.timestampStart = valueStart
          this.timestampEnd = valueEnd
        } else if (field === IP) {
          this.ipStart = valueStart
          this.ipEnd = valueEnd
        } else if (field === METHOD) {
          this.methodStart = valueStart
          this.methodEnd = valueEnd
        } else if (field === URL) {
          this.urlStart = valueStart
          this.urlEnd = valueEnd
        } else if (field === STATUS) {
          return false
        }
        position = valueEnd + 1
      } else if (first >= 49 && first <= 57) {
        // A plain positive integer; fractions, exponents and leading zeros go to the Schema.
        let value = 0
        while (position < length) {
          const d = line.charCodeAt(position) - 48
          if (d < 0 || d > 9) break
          value = value * 10 + d
          position++
        }
        const next = line.charCodeAt(position)
        if (next === 46 || next === 101 || next === 69) return false
        if (field === STATUS) this.status = value
        else if (field !== 0) return false
      } else {
        return false
      }
      position = skipWhitespace(line, position)
      const separator = line.charCodeAt(position)
      if (separator === 125 /* } */) break
      if (separator !== 44 /* , */) return false
    }
    if (skipWhitespace(line, position + 1) !== length || seen !== ALL_FIELDS) return false
    return this.checkFields(line)
  }

  /** Five plain fields (no quotes) and a three-digit status, by one compiled regex; other lines go to the Schema. */
  private fastCsv(line: string): boolean {
    if (!PLAIN_CSV.test(line)) return false
    this.timestampStart = 0
    this.timestampEnd = line.indexOf(",")
    const n = line.length
    this.status = (line.charCodeAt(n - 3) - 48) * 100 + (line.charCodeAt(n - 2) - 48) * 10 + line.charCodeAt(n - 1) - 48
    this.boundsPending = true
    return this.checkFields(line)
  }

  private checkFields(line: string): boolean {
    if (this.status < 100 || this.status > 599) return false
    const eventTimeMs = parseEventTimeMs(line, this.timestampStart, this.timestampEnd)
    if (eventTimeMs === undefined) return false
    this.eventTimeMs = eventTimeMs
    return true
  }

  // -- slow paths: the Schema decides ---------------------------------------

  private slowJson(line: string): "valid" | "rejected" {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      // JSON.parse says where it stopped ("Unexpected end of JSON input"), which helps find the culprit.
      return this.reject(`not valid JSON: ${(error as Error).message}`)
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return this.reject(`expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`)
    }
    return this.accept(value)
  }

  private slowCsv(line: string): "valid" | "rejected" {
    const fields = splitCsvLine(line)
    if (fields === undefined) return this.reject("unbalanced quotes in CSV line")
    if (fields.length !== 5) {
      return this.reject(`expected 5 CSV fields (${CSV_HEADER}), got ${fields.length}`)
    }
    const statusText = fields[4]!
    if (!/^[0-9]+$/.test(statusText)) return this.reject(`status must be an integer, got "${truncate(statusText, 40)}"`)
    return this.accept({ timestamp: fields[0], ip: fields[1], method: fields[2], url: fields[3], status: Number(statusText) })
  }

  private accept(value: unknown): "valid" | "rejected" {
    const result = decodeRecord(value)
    if (Result.isFailure(result)) return this.reject(result.failure.message.replace(/\s*\n\s*/g, " "))
    const record = result.success
    this.decoded = record
    this.status = record.status
    this.eventTimeMs = parseEventTimeMs(record.timestamp)!
    return "valid"
  }

  private reject(reason: string): "rejected" {
    this.reason = reason
    return "rejected"
  }
}

// No quote, backslash or control character inside the strings: nothing to unescape, nothing JSON forbids.
const CANONICAL_JSON =
  /^\{"timestamp":"[^"\\\x00-\x1f]*","ip":"[^"\\\x00-\x1f]*","method":"[^"\\\x00-\x1f]*","url":"[^"\\\x00-\x1f]*","status":[1-5]\d\d\}$/

const PLAIN_CSV = /^[^,"]*,[^,"]*,[^,"]*,[^,"]*,[1-5]\d\d$/

const KEY_TIMESTAMP = "{\"timestamp\":\""
const KEY_IP = "\",\"ip\":\""
const KEY_METHOD = "\",\"method\":\""
const KEY_URL = "\",\"url\":\""

const TIMESTAMP = 1
const IP = 2
const METHOD = 4
const URL = 8
const STATUS = 16
const ALL_FIELDS = 31

// Keys are compared code unit by code unit: builtin string calls cost more than the comparisons.
const fieldOf = (line: string, at: number, length: number): number => {
  const c = line.charCodeAt(at)
  switch (length) {
    case 9:
      return c === 116 && line.charCodeAt(at + 1) === 105 && line.charCodeAt(at + 2) === 109 &&
          line.charCodeAt(at + 3) === 101 && line.charCodeAt(at + 4) === 115 && line.charCodeAt(at + 5) === 116 &&
          line.charCodeAt(at + 6) === 97 && line.charCodeAt(at + 7) === 109 && line.charCodeAt(at + 8) === 112
        ? TIMESTAMP
        : 0
    case 2:
      return c === 105 && line.charCodeAt(at + 1) === 112 ? IP : 0
    case 6:
      if (
        c === 109 && line.charCodeAt(at + 1) === 101 && line.charCodeAt(at + 2) === 116 &&
        line.charCodeAt(at + 3) === 104 && line.charCodeAt(at + 4) === 111 && line.charCodeAt(at + 5) === 100
      ) return METHOD
      return c === 115 && line.charCodeAt(at + 1) === 116 && line.charCodeAt(at + 2) === 97 &&
          line.charCodeAt(at + 3) === 116 && line.charCodeAt(at + 4) === 117 && line.charCodeAt(at + 5) === 115
        ? STATUS
        : 0
    case 3:
      return c === 117 && line.charCodeAt(at + 1) === 114 && line.charCodeAt(at + 2) === 108 ? URL : 0
    default:
      return 0
  }
}

const skipWhitespace = (line: string, position: number): number => {
  for (;;) {
    const c = line.charCodeAt(position)
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return position
    position++
  }
}

/** Index of the closing quote of a JSON string with no escapes or control characters, or -1. */
const endOfPlainString = (line: string, start: number): number => {
  const length = line.length
  for (let i = start; i < length; i++) {
    const c = line.charCodeAt(i)
    if (c === 34) return i
    if (c === 92 || c < 32) return -1
  }
  return -1
}

/** RFC 4180 fields of one line, or `undefined` for an unterminated quote. */
const splitCsvLine = (line: string): Array<string> | undefined => {
  const fields: Array<string> = []
  let position = 0
  for (;;) {
    if (line.charCodeAt(position) === 34) {
      let value = ""
      let i = position + 1
      for (;;) {
        const quote = line.indexOf("\"", i)
        if (quote < 0) return undefined
        value += line.slice(i, quote)
        if (line.charCodeAt(quote + 1) === 34) {
          value += "\""
          i = quote + 2
          continue
        }
        position = quote + 1
        break
      }
      fields.push(value)
      if (position === line.length) return fields
      if (line.charCodeAt(position) !== 44) return undefined
      position++
    } else {
      const comma = line.indexOf(",", position)
      if (comma < 0) {
        fields.push(line.slice(position))
        return fields
      }
      fields.push(line.slice(position, comma))
      position = comma + 1
    }
  }
}

export const truncate = (text: string, maxLength: number): string =>
  text.length <= maxLength ? text : `${text.slice(0, maxLength)}…`
