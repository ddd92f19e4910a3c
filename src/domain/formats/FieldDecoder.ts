/**
 * What the formats whose fields are spans of the line have in common: the last
 * line (a string, or a span of a byte run decoded only on demand), the spans
 * of its five fields, the record the Schema decoded when a fast path handed the
 * line on, and the canonical `errors/` line. A format extends it with its own
 * fast path (`decodeAt`) and its own `decode`.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { decodeUtf8, type LogRecord } from "../LogRecord.ts"
import { formatInstant, parseEventTimeMs } from "../Timestamp.ts"
import type { LineDecoder, Verdict } from "./LineDecoder.ts"

export abstract class FieldDecoder implements LineDecoder {
  eventTimeMs = 0
  status = 0
  reason = ""
  // The last line: a string, or the bytes [lineStart, lineEnd) of `bytes`, decoded on demand into `line`.
  protected line: string | undefined = ""
  protected bytes: Uint8Array = EMPTY
  protected view: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer)
  protected lineStart = 0
  protected lineEnd = 0
  protected nonAscii = false
  // Whether a field of the last line may hold a quote, a backslash or a control character, which JSON escapes.
  protected needsEscaping = false
  // The last line is already its own canonical `errors/` line.
  protected isCanonical = false
  // Spans of the fields in `bytes`; the timestamp's text is `formatInstant(eventTimeMs)` when it was an epoch number.
  protected timestampStart = 0
  protected timestampEnd = 0
  protected timestampIsEpoch = false
  protected ipStart = 0
  protected ipEnd = 0
  protected methodStart = 0
  protected methodEnd = 0
  protected urlStart = 0
  protected urlEnd = 0
  // The Schema's record, when the line went the slow way.
  protected decoded: LogRecord | undefined = undefined
  private scratch = new Uint8Array(256)
  // The `errors/` line `composeErrorLine` made for the last line, and where its ip and url start in it.
  private composed: string | undefined = undefined
  private composedIp = 0
  private composedUrl = 0
  private errorScratch = Buffer.allocUnsafe(512)

  abstract decodeAt(bytes: Uint8Array, start: number): number
  abstract decode(line: string): Verdict

  lineText(): string {
    // A Buffer's latin1 decoding is the fastest for ASCII, about twice TextDecoder's speed.
    const bytes = this.bytes
    return this.line ??= !this.nonAscii && bytes instanceof Buffer
      ? bytes.toString("latin1", this.lineStart, this.lineEnd)
      : decodeUtf8(bytes.subarray(this.lineStart, this.lineEnd))
  }

  record(): LogRecord {
    return this.decoded ?? {
      timestamp: this.timestampIsEpoch ? formatInstant(this.eventTimeMs) : this.field(this.timestampStart, this.timestampEnd),
      ip: this.ip(),
      method: this.field(this.methodStart, this.methodEnd),
      url: this.url(),
      status: this.status
    }
  }

  ip(): string {
    if (this.composed !== undefined) return this.composed.slice(this.composedIp, this.composedIp + this.ipEnd - this.ipStart)
    return this.decoded?.ip ?? this.field(this.ipStart, this.ipEnd)
  }

  url(): string {
    if (this.composed !== undefined) return this.composed.slice(this.composedUrl, this.composedUrl + this.urlEnd - this.urlStart)
    return this.decoded?.url ?? this.field(this.urlStart, this.urlEnd)
  }

  /**
   * The five fields, in order. Fast-path fields that need no escaping are put in place directly;
   * the rest go through `JSON.stringify`.
   */
  errorLine(): string {
    if (this.decoded === undefined && !this.needsEscaping) {
      if (this.isCanonical) return this.lineText()
      if (!this.nonAscii && this.bytes instanceof Buffer) return this.composeErrorLine(this.bytes)
      const { ip, method, status, timestamp, url } = this.record()
      return `{"timestamp":"${timestamp}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}`
    }
    const { ip, method, status, timestamp, url } = this.record()
    return JSON.stringify({ timestamp, ip, method, url, status })
  }

  /**
   * The `errors/` line of an ASCII fast-path line in a Buffer, its bytes put together in a scratch
   * Buffer and read back as one flat string: a string built from slices of the line would be a
   * tree of pieces, which costs its allocations here and its flattening when the part is written.
   * `ip()` and `url()` then slice it, so that the line itself is never decoded.
   */
  private composeErrorLine(bytes: Buffer): string {
    const epochText = this.timestampIsEpoch ? formatInstant(this.eventTimeMs) : undefined
    const timestampLength = epochText === undefined ? this.timestampEnd - this.timestampStart : epochText.length
    const needed = ERROR_LINE_FIXED + timestampLength + (this.ipEnd - this.ipStart) + (this.methodEnd - this.methodStart) +
      (this.urlEnd - this.urlStart)
    if (this.errorScratch.length < needed) this.errorScratch = Buffer.allocUnsafe(needed * 2)
    const out = this.errorScratch
    let n = put(out, 0, TIMESTAMP_OPEN, 0, TIMESTAMP_OPEN.length)
    if (epochText === undefined) {
      n = put(out, n, bytes, this.timestampStart, this.timestampEnd)
    } else {
      for (let i = 0; i < epochText.length; i++) out[n++] = epochText.charCodeAt(i)
    }
    n = put(out, n, IP_OPEN, 0, IP_OPEN.length)
    const ipAt = n
    n = put(out, n, bytes, this.ipStart, this.ipEnd)
    n = put(out, n, METHOD_OPEN, 0, METHOD_OPEN.length)
    n = put(out, n, bytes, this.methodStart, this.methodEnd)
    n = put(out, n, URL_OPEN, 0, URL_OPEN.length)
    const urlAt = n
    n = put(out, n, bytes, this.urlStart, this.urlEnd)
    n = put(out, n, STATUS_OPEN, 0, STATUS_OPEN.length)
    // A status is 100 to 599: three digits.
    const status = this.status
    out[n++] = 48 + Math.floor(status / 100)
    out[n++] = 48 + (Math.floor(status / 10) % 10)
    out[n++] = 48 + (status % 10)
    out[n++] = 125
    const line = out.toString("latin1", 0, n)
    this.composed = line
    this.composedIp = ipAt
    this.composedUrl = urlAt
    return line
  }

  /** Starts a line that is the span of `bytes` from `start`. */
  protected beginBytes(bytes: Uint8Array, start: number): void {
    if (bytes !== this.bytes) {
      this.bytes = bytes
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    }
    this.line = undefined
    this.lineStart = start
    this.reset()
  }

  /**
   * Starts a line given as a string, and puts its UTF-8 bytes in a scratch run, so that the byte
   * fast path can read it too. Returns the byte length, or -1 when the fast path must not try it:
   * a lone surrogate has no UTF-8 form (its bytes would read as U+FFFD).
   */
  protected beginString(line: string): number {
    this.line = line
    this.reset()
    if (this.scratch.length < line.length * 3) this.scratch = new Uint8Array(line.length * 3)
    const { written } = encoder.encodeInto(line, this.scratch)
    if (written !== line.length && LONE_SURROGATE.test(line)) return -1
    this.bytes = this.scratch.subarray(0, written)
    this.view = new DataView(this.scratch.buffer, 0, written)
    this.lineStart = 0
    this.lineEnd = written
    return written
  }

  private reset(): void {
    this.decoded = undefined
    this.composed = undefined
    this.nonAscii = false
    this.needsEscaping = false
    this.isCanonical = false
    this.timestampIsEpoch = false
  }

  /** A field by its span in `bytes`. */
  protected field(start: number, end: number): string {
    // Byte offsets are string offsets only in ASCII.
    if (this.nonAscii) return decodeUtf8(this.bytes.subarray(start, end))
    return this.lineText().slice(start - this.lineStart, end - this.lineStart)
  }

  /**
   * The line ends at `after` (a `\n`, or the run's end, maybe behind a `\r`)? Sets `lineEnd` and
   * returns the index of the `\n` (or the run's length), else -1.
   */
  protected endsAt(bytes: Uint8Array, after: number): number {
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

  /** The Schema's verdict, kept as the record of the line. */
  protected accept(result: Result.Result<LogRecord, Schema.SchemaError>): "valid" | "rejected" {
    if (Result.isFailure(result)) return this.reject(result.failure.message.replace(/\s*\n\s*/g, " "))
    const record = result.success
    this.decoded = record
    this.status = record.status
    this.eventTimeMs = parseEventTimeMs(record.timestamp)!
    return "valid"
  }

  protected reject(reason: string): "rejected" {
    this.reason = reason
    return "rejected"
  }
}

const EMPTY = new Uint8Array(0)

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (ch) => ch.charCodeAt(0))
const TIMESTAMP_OPEN = ascii("{\"timestamp\":\"")
const IP_OPEN = ascii("\",\"ip\":\"")
const METHOD_OPEN = ascii("\",\"method\":\"")
const URL_OPEN = ascii("\",\"url\":\"")
const STATUS_OPEN = ascii("\",\"status\":")
// The bytes of an `errors/` line besides its fields' own: the keys, quotes and separators, three digits and `}`.
const ERROR_LINE_FIXED = TIMESTAMP_OPEN.length + IP_OPEN.length + METHOD_OPEN.length + URL_OPEN.length + STATUS_OPEN.length + 4

/** Copies `from[start, end)` to `to` at `at`; returns the index after it. A loop: the pieces are short. */
const put = (to: Uint8Array, at: number, from: Uint8Array, start: number, end: number): number => {
  for (let i = start; i < end; i++) to[at++] = from[i]!
  return at
}
const encoder = new TextEncoder()
// In a `u` regular expression a surrogate pair is one code point, so this finds only lone halves.
const LONE_SURROGATE = /\p{Cs}/u
