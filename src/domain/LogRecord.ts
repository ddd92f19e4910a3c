/**
 * The access-log record and the two line formats that carry it.
 *
 * `LogRecord` (a Schema) is the definition of a valid record. Decoding every
 * line through the generic Schema machinery is too slow for a million lines a
 * second, so `RecordDecoder` has two hand-written fast paths: one over bytes
 * for the exact shape the generator writes (`decodeAt`), and one over strings
 * for any simple JSON object. Whenever a fast path meets anything unusual
 * (escapes, extra value kinds, duplicate keys, a failed check) it hands the
 * line on, and in the end to the Schema, so the Schema alone decides every
 * doubtful case and writes every rejection reason. The property tests check
 * that all paths agree on every input.
 */
import * as Schema from "effect/Schema"
import * as Result from "effect/Result"
import { InstantReader, parseEventTimeMs } from "./Timestamp.ts"

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
 * allocates nothing for the 90 % of lines that are not errors. After a line
 * is accepted (`decodeAt` returns its end, or `decode` returns `"valid"`), read
 * `eventTimeMs` and `status`; call `record()` only for the lines you keep.
 * After `"rejected"`, read `reason`.
 */
export class RecordDecoder {
  eventTimeMs = 0
  status = 0
  reason = ""
  // The last line: a string, or the bytes [lineStart, lineEnd) of `bytes`, decoded on demand into `line`.
  private line: string | undefined = ""
  private fromBytes = false
  private bytes: Uint8Array = EMPTY
  private view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer)
  private lineStart = 0
  private lineEnd = 0
  private nonAscii = false
  // Whether a field of the last line holds a backslash or a control character, which JSON escapes.
  private needsEscaping = false
  // Field bounds, in `line` or in `bytes`, whichever the line came as; or the Schema's decoded record.
  private timestampStart = 0
  private timestampEnd = 0
  private ipStart = 0
  private ipEnd = 0
  private methodStart = 0
  private methodEnd = 0
  private urlStart = 0
  private urlEnd = 0
  private decoded: LogRecord | undefined = undefined
  private readonly instants = new InstantReader()

  constructor(readonly format: LineFormat) {}

  /**
   * The fast path, over a run of UTF-8 lines separated by `\n`: decodes the line that starts at
   * `start` if it has exactly the shape the generator writes (`{"timestamp":"…","ip":"…",…,"status":NNN}`,
   * or five plain CSV fields) and is valid. Returns the index of the `\n` that ends it (or the run's
   * length), or -1 when the line needs `decode`, which then decides. A `\r` before the end is not
   * part of the line.
   */
  decodeAt(bytes: Uint8Array, start: number): number {
    if (bytes !== this.bytes) {
      this.bytes = bytes
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    }
    this.fromBytes = true
    this.line = undefined
    this.decoded = undefined
    this.nonAscii = false
    this.needsEscaping = false
    this.lineStart = start
    return this.format === "json" ? this.canonicalJsonAt(bytes, start) : this.plainCsvAt(bytes, start)
  }

  /** One line as a string. `"skip"` for the CSV header line. Blank lines are the caller's business. */
  decode(line: string): "valid" | "rejected" | "skip" {
    this.line = line
    this.fromBytes = false
    this.decoded = undefined
    // CSV fields may hold anything JSON escapes; the JSON fast path takes plain strings only.
    this.needsEscaping = this.format === "csv"
    if (this.format === "json") return this.fastJson(line) ? "valid" : this.slowJson(line)
    if (line === CSV_HEADER) return "skip"
    return this.slowCsv(line)
  }

  /** The last line decoded, as a string (without a final `\r`). */
  lineText(): string {
    // A Buffer's latin1 decoding is the fastest for ASCII, about twice TextDecoder's speed.
    const bytes = this.bytes
    return this.line ??= !this.nonAscii && bytes instanceof Buffer
      ? bytes.toString("latin1", this.lineStart, this.lineEnd)
      : utf8.decode(bytes.subarray(this.lineStart, this.lineEnd))
  }

  /** The record of the last valid line. */
  record(): LogRecord {
    return this.decoded ?? {
      timestamp: this.field(this.timestampStart, this.timestampEnd),
      ip: this.ip(),
      method: this.field(this.methodStart, this.methodEnd),
      url: this.url(),
      status: this.status
    }
  }

  /** The last valid line's `ip`, without building its whole record. */
  ip(): string {
    return this.decoded?.ip ?? this.field(this.ipStart, this.ipEnd)
  }

  /** The last valid line's `url`, without building its whole record. */
  url(): string {
    return this.decoded?.url ?? this.field(this.urlStart, this.urlEnd)
  }

  /**
   * The `errors/` line of the last valid line: its five fields, in order. A
   * line the byte path took as JSON is already that line. Other fast-path
   * fields that need no escaping (no quote, backslash or control character)
   * are put in place directly; the rest go through `JSON.stringify`.
   */
  errorLine(): string {
    if (this.decoded === undefined && !this.needsEscaping) {
      if (this.fromBytes && this.format === "json") return this.lineText()
      const { ip, method, status, timestamp, url } = this.record()
      return `{"timestamp":"${timestamp}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}`
    }
    const { ip, method, status, timestamp, url } = this.record()
    return JSON.stringify({ timestamp, ip, method, url, status })
  }

  /** A fast-path field by its bounds, in `line` or in `bytes`. */
  private field(start: number, end: number): string {
    if (!this.fromBytes) return this.lineText().slice(start, end)
    // Byte offsets are string offsets only in ASCII.
    if (this.nonAscii) return utf8.decode(this.bytes.subarray(start, end))
    return this.lineText().slice(start - this.lineStart, end - this.lineStart)
  }

  // -- the byte fast path: return -1 to defer to `decode` ---------------------

  private canonicalJsonAt(bytes: Uint8Array, start: number): number {
    if (!JSON_OPEN.at(this.view, start)) return -1
    this.timestampStart = start + JSON_OPEN.length
    let position = this.instants.read(bytes, this.view, this.timestampStart, bytes.length)
    if (position < 0 || bytes[position] !== 34) return -1
    this.timestampEnd = position
    if (!JSON_IP.at(this.view, position)) return -1
    this.ipStart = position + JSON_IP.length
    this.ipEnd = position = this.plainStringEnd(bytes, this.ipStart)
    if (position < 0 || !JSON_METHOD.at(this.view, position)) return -1
    this.methodStart = position + JSON_METHOD.length
    this.methodEnd = position = this.plainStringEnd(bytes, this.methodStart)
    if (position < 0 || !JSON_URL.at(this.view, position)) return -1
    this.urlStart = position + JSON_URL.length
    this.urlEnd = position = this.plainStringEnd(bytes, this.urlStart)
    if (position < 0 || !JSON_STATUS.at(this.view, position)) return -1
    position += JSON_STATUS.length
    if (position + 4 > bytes.length || bytes[position + 3] !== 125 /* } */) return -1
    return this.statusAndEnd(bytes, position, position + 4)
  }

  private plainCsvAt(bytes: Uint8Array, start: number): number {
    this.timestampStart = start
    let position = this.instants.read(bytes, this.view, start, bytes.length)
    if (position < 0 || bytes[position] !== 44) return -1
    this.timestampEnd = position
    this.ipStart = position + 1
    this.ipEnd = position = this.plainCsvFieldEnd(bytes, this.ipStart)
    if (position < 0) return -1
    this.methodStart = position + 1
    this.methodEnd = position = this.plainCsvFieldEnd(bytes, this.methodStart)
    if (position < 0) return -1
    this.urlStart = position + 1
    this.urlEnd = position = this.plainCsvFieldEnd(bytes, this.urlStart)
    if (position < 0 || position + 4 > bytes.length) return -1
    return this.statusAndEnd(bytes, position + 1, position + 4)
  }

  /** A status of three digits from 100 to 599 at `at`, then the end of the line at `after`. */
  private statusAndEnd(bytes: Uint8Array, at: number, after: number): number {
    const hundreds = bytes[at]! - 48
    const tens = bytes[at + 1]! - 48
    const ones = bytes[at + 2]! - 48
    if (hundreds < 1 || hundreds > 5 || tens < 0 || tens > 9 || ones < 0 || ones > 9) return -1
    this.status = hundreds * 100 + tens * 10 + ones
    this.eventTimeMs = this.instants.epochMs
    const length = bytes.length
    if (after === length || bytes[after] === 10) {
      this.lineEnd = after
      return after
    }
    if (bytes[after] === 13 && (after + 1 === length || bytes[after + 1] === 10)) {
      this.lineEnd = after
      return after + 1
    }
    return -1
  }

  /** Index of the quote closing a JSON string with no escape or control character, or -1. */
  private plainStringEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    for (let i = start; i < length; i++) {
      const c = bytes[i]!
      if (c === 34) return i
      if (c === 92 || c < 32) return -1
      if (c >= 128) this.nonAscii = true
    }
    return -1
  }

  /** Index of the comma ending a CSV field with no quote, or -1 (the line ends first). */
  private plainCsvFieldEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    for (let i = start; i < length; i++) {
      const c = bytes[i]!
      if (c === 44) return i
      if (c === 34 || c === 10) return -1
      if (c >= 128) this.nonAscii = true
      else if (c === 92 || c < 32) this.needsEscaping = true
    }
    return -1
  }

  // -- the string fast path: return false to defer to the Schema --------------

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

const EMPTY = new Uint8Array(0)
// A U+FEFF is data wherever it stands in a line (`ignoreBOM`), as the line splitter keeps it.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** Valid UTF-8 bytes as text. */
export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)
/** A fixed ASCII text, compared four bytes at a time: a quarter of the loads of a byte loop. */
class Literal {
  readonly length: number
  // Offsets of the 32-bit words that cover the text (the last may overlap the one before) and their values.
  private readonly offsets: ReadonlyArray<number>
  private readonly words: ReadonlyArray<number>

  constructor(text: string) {
    if (text.length < 4) throw new Error("a Literal needs at least 4 bytes")
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0))
    const view = new DataView(bytes.buffer)
    const offsets: Array<number> = []
    for (let offset = 0; offset < bytes.length - 4; offset += 4) offsets.push(offset)
    offsets.push(bytes.length - 4)
    this.length = bytes.length
    this.offsets = offsets
    this.words = offsets.map((offset) => view.getUint32(offset, true))
  }

  /** Whether the text stands at `at` in `view`. */
  at(view: DataView, at: number): boolean {
    if (at + this.length > view.byteLength) return false
    for (let i = 0; i < this.offsets.length; i++) {
      if (view.getUint32(at + this.offsets[i]!, true) !== this.words[i]) return false
    }
    return true
  }
}

// The fixed parts of the generator's JSON lines, around the values.
const JSON_OPEN = new Literal("{\"timestamp\":\"")
const JSON_IP = new Literal("\",\"ip\":\"")
const JSON_METHOD = new Literal("\",\"method\":\"")
const JSON_URL = new Literal("\",\"url\":\"")
const JSON_STATUS = new Literal("\",\"status\":")

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
