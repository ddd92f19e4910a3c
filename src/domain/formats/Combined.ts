/**
 * The NCSA combined log format that nginx and Apache write by default, and its
 * common-format prefix:
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 *
 * The rules (README, "The combined format") are defined by the judge:
 * `splitCombinedLine` cuts a line into its fields and the `CombinedFields`
 * Schema checks them, and it writes every rejection reason. The fast path, over
 * bytes (`decodeAt`, and `decode` over a string's bytes), takes the lines whose
 * quoted fields hold no backslash and whose separators are single spaces, and
 * hands every other line to the judge, which so decides every doubtful case.
 * The property tests hold both to an independent reference.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { LogRecord } from "../LogRecord.ts"
import { daysFromCivil, daysInMonth, digits2 } from "../Timestamp.ts"
import { FieldDecoder } from "./FieldDecoder.ts"
import type { Format } from "./Format.ts"
import type { Verdict } from "./LineDecoder.ts"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** A valid combined line's record: the five fields of every format, plus what the line adds. */
export interface CombinedRecord extends LogRecord {
  readonly bytes?: number
  readonly referer?: string
  readonly user_agent?: string
}

// -- the judge ----------------------------------------------------------------

export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const

const TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/

/** `30/May/2025:20:52:47 +0200` as its instant and ISO-8601 text with the same offset, or `undefined`. */
export const parseCombinedTime = (text: string): { readonly epochMs: number; readonly iso: string } | undefined => {
  const match = TIME.exec(text)
  if (match === null) return undefined
  const [, dd, mon, yyyy, hh, mi, ss, sign, oh, om] = match as unknown as Array<string>
  const month = MONTHS.indexOf(mon as (typeof MONTHS)[number]) + 1
  const year = Number(yyyy)
  const day = Number(dd)
  if (month === 0 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 59 || Number(oh) > 23 || Number(om) > 59) return undefined
  const offsetMinutes = (sign === "+" ? 1 : -1) * (Number(oh) * 60 + Number(om))
  const localMinutes = (daysFromCivil(year, month, day) * 24 + Number(hh)) * 60 + Number(mi)
  return {
    epochMs: (localMinutes - offsetMinutes) * 60_000 + Number(ss) * 1000,
    iso: `${yyyy}-${String(month).padStart(2, "0")}-${dd}T${hh}:${mi}:${ss}${sign}${oh}:${om}`
  }
}

const CombinedTime = Schema.String.check(
  Schema.makeFilter((text: string) => parseCombinedTime(text) !== undefined, {
    expected: "a time such as 30/May/2025:18:52:47 +0000 (dd/Mon/yyyy:HH:MM:SS ±hhmm)"
  })
)
const CombinedStatus = Schema.String.check(
  Schema.makeFilter((text: string) => /^[0-9]+$/.test(text) && Number(text) >= 100 && Number(text) <= 599, {
    expected: "a status from 100 to 599"
  })
)
const CombinedBytes = Schema.String.check(
  Schema.makeFilter((text: string) => /^(-|[0-9]{1,15})$/.test(text), { expected: "a byte count (digits, at most 15) or -" })
)

/** The fields of a combined line as written (quoted ones unescaped), and what each must be. */
export const CombinedFields = Schema.Struct({
  ip: Schema.String,
  time: CombinedTime,
  request: Schema.String,
  status: CombinedStatus,
  bytes: CombinedBytes,
  referer: Schema.optional(Schema.String),
  user_agent: Schema.optional(Schema.String)
})
export type CombinedFields = typeof CombinedFields.Type

/**
 * A quoted field that opens at `open`: `\"` stands for `"` and `\\` for `\`; every other backslash
 * stays as written (nginx's `\xHH`). Returns the value and the index after the closing quote.
 */
const readQuoted = (line: string, open: number): { value: string; end: number } | undefined => {
  let value = ""
  let from = open + 1
  for (let i = from; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === 34) return { value: value + line.slice(from, i), end: i + 1 }
    if (c === 92) {
      const next = line.charCodeAt(i + 1)
      if (next === 34 || next === 92) {
        value += line.slice(from, i)
        from = ++i
      }
    }
  }
  return undefined
}

/** The end of the space-free field that starts at `start`. */
const wordEnd = (line: string, start: number): number => {
  const space = line.indexOf(" ", start)
  return space < 0 ? line.length : space
}

/**
 * Cuts a line into its fields, or says why it cannot. After the bytes, fields are separated by
 * spaces; when the first two are quoted they are the referer and the user agent, and every other
 * field is ignored (a quoted one must still be closed).
 */
export const splitCombinedLine = (line: string): Record<string, string> | string => {
  if (line.charCodeAt(0) === 123 /* { */) return "a JSON line, not a combined log line (see --format)"
  let position = 0
  const words: Array<string> = []
  for (let i = 0; i < 3; i++) {
    const end = wordEnd(line, position)
    if (end === position || end === line.length) {
      return "expected an ip, ident and user field, each followed by one space, before the [time]"
    }
    words.push(line.slice(position, end))
    position = end + 1
  }
  if (line.charCodeAt(position) !== 91 /* [ */) return "missing [ before the time"
  const close = line.indexOf("]", position)
  if (close < 0) return "missing ] after the time"
  const time = line.slice(position + 1, close)
  if (line.charCodeAt(close + 1) !== 32 || line.charCodeAt(close + 2) !== 34) return "expected a space and the quoted request after the [time]"
  const request = readQuoted(line, close + 2)
  if (request === undefined) return "unterminated quote in the request"
  position = request.end
  if (line.charCodeAt(position) !== 32) return "expected a space and the status after the quoted request"
  const statusEnd = wordEnd(line, position + 1)
  const status = line.slice(position + 1, statusEnd)
  if (statusEnd === line.length) return "expected the bytes field after the status"
  const bytesEnd = wordEnd(line, statusEnd + 1)
  const fields: Record<string, string> = {
    ip: words[0]!,
    time,
    request: request.value,
    status,
    bytes: line.slice(statusEnd + 1, bytesEnd)
  }
  const quoted: Array<string | undefined> = []
  position = bytesEnd
  for (;;) {
    while (line.charCodeAt(position) === 32) position++
    if (position >= line.length) break
    if (line.charCodeAt(position) === 34) {
      const field = readQuoted(line, position)
      if (field === undefined) return "unterminated quote in a field after the bytes"
      position = field.end
      if (position < line.length && line.charCodeAt(position) !== 32) return "expected a space after a quoted field"
      quoted.push(field.value)
    } else {
      position = wordEnd(line, position)
      quoted.push(undefined)
    }
  }
  if (quoted[0] !== undefined && quoted[1] !== undefined) {
    // nginx and Apache write `-` for a request without the header.
    if (quoted[0] !== "-") fields["referer"] = quoted[0]
    if (quoted[1] !== "-") fields["user_agent"] = quoted[1]
  }
  return fields
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** `METHOD TARGET [PROTOCOL]` gives method and url; any other request text is the url, with method `-`. */
export const splitRequest = (request: string): { readonly method: string; readonly url: string } => {
  const parts = request.split(" ")
  if ((parts.length === 2 || parts.length === 3) && parts.every((p) => p.length > 0) && TOKEN.test(parts[0]!)) {
    return { method: parts[0]!, url: parts[1]! }
  }
  return { method: "-", url: request }
}

const decodeFields = Schema.decodeUnknownResult(CombinedFields)

/** The judge: a combined line's record and event time, or the reason it is rejected. */
export const decodeCombinedLine = (line: string): { readonly record: CombinedRecord; readonly eventTimeMs: number } | string => {
  const split = splitCombinedLine(line)
  if (typeof split === "string") return split
  const result = decodeFields(split)
  if (Result.isFailure(result)) return result.failure.message.replace(/\s*\n\s*/g, " ")
  const fields = result.success
  const { method, url } = splitRequest(fields.request)
  const time = parseCombinedTime(fields.time)!
  const record: Mutable<CombinedRecord> = { timestamp: time.iso, ip: fields.ip, method, url, status: Number(fields.status) }
  if (fields.bytes !== "-") record.bytes = Number(fields.bytes)
  if (fields.referer !== undefined) record.referer = fields.referer
  if (fields.user_agent !== undefined) record.user_agent = fields.user_agent
  return { record, eventTimeMs: time.epochMs }
}

/** The `errors/` line of a record: its fields in a fixed order. */
export const combinedErrorLine = (record: CombinedRecord): string =>
  JSON.stringify({
    timestamp: record.timestamp,
    ip: record.ip,
    method: record.method,
    url: record.url,
    status: record.status,
    bytes: record.bytes,
    referer: record.referer,
    user_agent: record.user_agent
  })

// -- the decoder --------------------------------------------------------------

const NONE = -1

// tchar (RFC 9110): the characters of an HTTP method.
const IS_TOKEN = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") IS_TOKEN[c.charCodeAt(0)] = 1

// Month abbreviations by their three bytes (b0 << 16 | b1 << 8 | b2).
const MONTH_BY_BYTES = new Map(MONTHS.map((m, i) => [(m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2), i + 1]))

export class CombinedDecoder extends FieldDecoder {
  // Spans in `bytes` of what the combined line adds; NONE when absent (the method: not a request line).
  private refererStart = NONE
  private refererEnd = NONE
  private agentStart = NONE
  private agentEnd = NONE
  private byteCount = NONE
  // The last time read by the fast path: its 26 bytes as seven overlapping 32-bit words, its instant, its ISO text.
  private readonly timeWords = new Int32Array(7)
  private timeKnown = false
  private timeMs = 0
  private timeIso: string | undefined = undefined
  private timeStart = 0

  decodeAt(bytes: Uint8Array, start: number): number {
    this.beginBytes(bytes, start)
    return this.fastLine(bytes, start)
  }

  decode(line: string): Verdict {
    // The byte path over the line's own bytes first; the judge decides what it hands on.
    const length = this.beginString(line)
    if (length >= 0 && this.fastLine(this.bytes, 0) === length && this.lineEnd === length) return "valid"
    const decoded = decodeCombinedLine(line)
    if (typeof decoded === "string") return this.reject(decoded)
    this.decoded = decoded.record
    this.status = decoded.record.status
    this.eventTimeMs = decoded.eventTimeMs
    return "valid"
  }

  override record(): CombinedRecord {
    // `decode` keeps the judge's CombinedRecord there.
    if (this.decoded !== undefined) return this.decoded as CombinedRecord
    const record: Mutable<CombinedRecord> = {
      timestamp: this.timestamp(),
      ip: this.ip(),
      method: this.method(),
      url: this.url(),
      status: this.status
    }
    if (this.byteCount !== NONE) record.bytes = this.byteCount
    if (this.refererStart !== NONE) record.referer = this.field(this.refererStart, this.refererEnd)
    if (this.agentStart !== NONE) record.user_agent = this.field(this.agentStart, this.agentEnd)
    return record
  }

  /** The `errors/` line: fields that need no JSON escaping are put in place directly. */
  override errorLine(): string {
    if (this.decoded !== undefined || this.needsEscaping) return combinedErrorLine(this.record())
    let text = `{"timestamp":"${this.timestamp()}","ip":"${this.ip()}","method":"${this.method()}","url":"${this.url()}",` +
      `"status":${this.status}`
    if (this.byteCount !== NONE) text += `,"bytes":${this.byteCount}`
    if (this.refererStart !== NONE) text += `,"referer":"${this.field(this.refererStart, this.refererEnd)}"`
    if (this.agentStart !== NONE) text += `,"user_agent":"${this.field(this.agentStart, this.agentEnd)}"`
    return text + "}"
  }

  private method(): string {
    return this.methodStart === NONE ? "-" : this.field(this.methodStart, this.methodEnd)
  }

  private timestamp(): string {
    return this.timeIso ??= parseCombinedTime(this.field(this.timeStart, this.timeStart + 26))!.iso
  }

  // -- the fast path: return -1 to defer to the judge -------------------------

  private fastLine(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    this.ipStart = start
    // A line that opens with `{` is JSON, which the judge names in its reason.
    if (bytes[start] === 123) return -1
    let position = this.wordEnd(bytes, start)
    if (position <= start) return -1
    this.ipEnd = position
    // ident and user: not kept, and mostly `-`.
    let next = bytes[position + 1] === 45 && bytes[position + 2] === 32 ? position + 2 : this.wordEnd(bytes, position + 1)
    if (next <= position + 1) return -1
    position = bytes[next + 1] === 45 && bytes[next + 2] === 32 ? next + 2 : this.wordEnd(bytes, next + 1)
    if (position <= next + 1 || position + 31 > length) return -1
    // ` [dd/Mon/yyyy:HH:MM:SS ±hhmm] "`
    if (bytes[position + 1] !== 91 || bytes[position + 28] !== 93 || bytes[position + 29] !== 32 || bytes[position + 30] !== 34) return -1
    if (!this.readTime(bytes, position + 2)) return -1
    position = this.request(bytes, position + 31)
    if (position < 0 || bytes[position + 1] !== 32 || position + 6 > length) return -1
    // The status: three digits, then a space.
    const hundreds = bytes[position + 2]! - 48
    const tens = bytes[position + 3]! - 48
    const ones = bytes[position + 4]! - 48
    if (hundreds < 1 || hundreds > 5 || tens < 0 || tens > 9 || ones < 0 || ones > 9 || bytes[position + 5] !== 32) return -1
    this.status = hundreds * 100 + tens * 10 + ones
    position += 6
    // The bytes: `-` or 1 to 15 digits.
    let count = 0
    next = position
    if (bytes[position] === 45) {
      count = NONE
      next++
    } else {
      for (; next < length; next++) {
        const digit = bytes[next]! - 48
        if (digit < 0 || digit > 9) break
        count = count * 10 + digit
      }
      if (next === position || next - position > 15) return -1
    }
    this.byteCount = count
    this.refererStart = this.refererEnd = this.agentStart = this.agentEnd = NONE
    let end = this.lineEndAt(bytes, next)
    if (end >= 0) return end
    if (bytes[next] !== 32) return -1
    // The combined part: ` "referer" "user agent"`.
    if (bytes[next + 1] === 34) {
      const refererEnd = this.quotedEnd(bytes, next + 2)
      if (refererEnd < 0) return -1
      if (bytes[refererEnd + 1] === 32 && bytes[refererEnd + 2] === 34) {
        const agentEnd = this.quotedEnd(bytes, refererEnd + 3)
        if (agentEnd < 0) return -1
        if (!isDash(bytes, next + 2, refererEnd)) {
          this.refererStart = next + 2
          this.refererEnd = refererEnd
        }
        if (!isDash(bytes, refererEnd + 3, agentEnd)) {
          this.agentStart = refererEnd + 3
          this.agentEnd = agentEnd
        }
        next = agentEnd + 1
      } else {
        next = refererEnd + 1
      }
      end = this.lineEndAt(bytes, next)
      if (end >= 0) return end
      if (bytes[next] !== 32) return -1
    }
    return this.ignoredFields(bytes, next)
  }

  /** Fields after the ones kept, each after one space: words, or quoted fields without backslashes. */
  private ignoredFields(bytes: Uint8Array, position: number): number {
    const length = bytes.length
    for (;;) {
      // `position` is at a space; what follows must be a field.
      position++
      const c = bytes[position]
      if (position >= length || c === 32 || c === 10 || c === 13) return -1
      if (c === 34) {
        const close = this.quotedEnd(bytes, position + 1)
        if (close < 0) return -1
        position = close + 1
      } else {
        while (position < length) {
          const b = bytes[position]!
          if (b === 32 || b === 10) break
          if (b === 13 && (position + 1 === length || bytes[position + 1] === 10)) break
          if (b >= 128) this.nonAscii = true
          position++
        }
      }
      const end = this.lineEndAt(bytes, position)
      if (end >= 0) return end
      if (bytes[position] !== 32) return -1
    }
  }

  /** At the line's end: the index of its `\n` (or the run's length), with the event time set; else -1. */
  private lineEndAt(bytes: Uint8Array, at: number): number {
    this.eventTimeMs = this.timeMs
    return this.endsAt(bytes, at)
  }

  /** The end of a space-free field (the index of its space), or -1 when the line ends first. */
  private wordEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    for (let i = start; ; i++) {
      i = specialByte(bytes, this.view, i)
      if (i >= length) return -1
      const c = bytes[i]!
      if (c === 32) return i
      if (c === 10) return -1
      if (c >= 128) this.nonAscii = true
      else this.needsEscaping = true
    }
  }

  /** The closing quote of a quoted field with no backslash, or -1. */
  private quotedEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    const view = this.view
    let i = start
    // Four bytes at a time while none is a quote, a backslash, a control character or non-ASCII
    // (the bit tricks flag a byte equal to 0x22 or 0x5C, below 0x20, or from 0x80 up).
    for (; i + 4 <= length; i += 4) {
      const w = view.getInt32(i, true)
      const quote = w ^ 0x22222222
      const backslash = w ^ 0x5c5c5c5c
      if ((((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | ((w - 0x20202020) & ~w) | w) & 0x80808080) break
    }
    for (; i < length; i++) {
      const c = bytes[i]!
      if (c === 34) return i
      if (c === 92 || c === 10) return -1
      if (c >= 128) this.nonAscii = true
      else if (c < 32) this.needsEscaping = true
    }
    return -1
  }

  /** The request at `start` (after its opening quote): sets method and url; returns its closing quote, or -1. */
  private request(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    let firstSpace = NONE
    let secondSpace = NONE
    let spaces = 0
    let i = start
    for (; ; i++) {
      i = specialByte(bytes, this.view, i)
      if (i >= length) return -1
      const c = bytes[i]!
      if (c === 34) break
      if (c === 32) {
        if (spaces === 0) firstSpace = i
        else if (spaces === 1) secondSpace = i
        spaces++
      } else if (c === 92 || c === 10) {
        return -1
      } else if (c >= 128) {
        this.nonAscii = true
      } else {
        this.needsEscaping = true
      }
    }
    if (i >= length) return -1
    const targetEnd = spaces === 1 ? i : secondSpace
    if (
      (spaces === 1 || spaces === 2) && firstSpace > start && targetEnd > firstSpace + 1 &&
      (spaces === 1 || i > secondSpace + 1) && this.isToken(bytes, start, firstSpace)
    ) {
      this.methodStart = start
      this.methodEnd = firstSpace
      this.urlStart = firstSpace + 1
      this.urlEnd = targetEnd
    } else {
      this.methodStart = this.methodEnd = NONE
      this.urlStart = start
      this.urlEnd = i
    }
    return i
  }

  private isToken(bytes: Uint8Array, start: number, end: number): boolean {
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c >= 128 || IS_TOKEN[c] === 0) return false
    }
    return true
  }

  /**
   * `dd/Mon/yyyy:HH:MM:SS ±hhmm` at `at`. The lines of a log share their second for long stretches,
   * so the last time read is remembered as seven 32-bit words and reused when they repeat.
   */
  private readTime(bytes: Uint8Array, at: number): boolean {
    const view = this.view
    const words = this.timeWords
    const w0 = view.getInt32(at, true)
    const w1 = view.getInt32(at + 4, true)
    const w2 = view.getInt32(at + 8, true)
    const w3 = view.getInt32(at + 12, true)
    const w4 = view.getInt32(at + 16, true)
    const w5 = view.getInt32(at + 20, true)
    const w6 = view.getInt32(at + 22, true)
    this.timeStart = at
    if (
      this.timeKnown && w0 === words[0] && w1 === words[1] && w2 === words[2] && w3 === words[3] && w4 === words[4] &&
      w5 === words[5] && w6 === words[6]
    ) return true
    const day = digits2(bytes, at)
    const month = MONTH_BY_BYTES.get((bytes[at + 3]! << 16) | (bytes[at + 4]! << 8) | bytes[at + 5]!) ?? 0
    const year = digits2(bytes, at + 7) * 100 + digits2(bytes, at + 9)
    const hour = digits2(bytes, at + 12)
    const minute = digits2(bytes, at + 15)
    const second = digits2(bytes, at + 18)
    const sign = bytes[at + 21]
    const offsetHours = digits2(bytes, at + 22)
    const offsetMinutes = digits2(bytes, at + 24)
    if (
      bytes[at + 2] !== 47 || bytes[at + 6] !== 47 || bytes[at + 11] !== 58 || bytes[at + 14] !== 58 ||
      bytes[at + 17] !== 58 || bytes[at + 20] !== 32 || (sign !== 43 && sign !== 45) ||
      month === 0 || year < 0 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 59 || offsetHours < 0 || offsetHours > 23 ||
      offsetMinutes < 0 || offsetMinutes > 59
    ) {
      this.timeKnown = false
      return false
    }
    const offset = (offsetHours * 60 + offsetMinutes) * (sign === 43 ? 1 : -1)
    this.timeMs = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offset) * 60_000 + second * 1000
    this.timeIso = undefined
    words[0] = w0
    words[1] = w1
    words[2] = w2
    words[3] = w3
    words[4] = w4
    words[5] = w5
    words[6] = w6
    this.timeKnown = true
    return true
  }
}


/**
 * The first byte from `i` that is a space, a control character, a quote, a backslash or non-ASCII,
 * or the run's length. Four bytes at a time: the bit tricks flag a word holding a byte equal to
 * 0x22 or 0x5C, below 0x21, or from 0x80 up.
 */
const specialByte = (bytes: Uint8Array, view: DataView<ArrayBufferLike>, i: number): number => {
  const length = bytes.length
  for (; i + 4 <= length; i += 4) {
    const w = view.getInt32(i, true)
    const quote = w ^ 0x22222222
    const backslash = w ^ 0x5c5c5c5c
    if ((((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | ((w - 0x21212121) & ~w) | w) & 0x80808080) break
  }
  for (; i < length; i++) {
    const c = bytes[i]!
    if (c <= 32 || c === 34 || c === 92 || c >= 128) return i
  }
  return length
}

const isDash = (bytes: Uint8Array, start: number, end: number): boolean => end === start + 1 && bytes[start] === 45



// -- what the generator writes ------------------------------------------------

// The extras of `generate --format combined`, in the proportions of a small public site.
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "curl/8.5.0",
  "python-requests/2.31.0"
] as const
const REFERERS = ["-", "-", "-", "https://www.google.com/", "https://example.com/", "https://example.com/resource/1"] as const
const PROTOCOLS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/2.0"] as const

/** `30/May/2025:18:52:47 +0000`: an instant as the combined format writes it, in UTC. */
export const formatCombinedTime = (epochMs: number): string => {
  const d = new Date(epochMs)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${String(d.getUTCFullYear()).padStart(4, "0")}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
}

export const combined = {
  name: "combined",
  description: "the NCSA combined access log that nginx and Apache write (the common format too)",
  acceptsFieldMapping: false,
  decoder: () => new CombinedDecoder(),
  encoding: {
    header: undefined,
    timestamp: formatCombinedTime,
    line: (timestamp, ip, method, url, status, draw) => {
      // About 3 % of responses without a byte count; error pages are small.
      const bytes = (draw & 31) === 0 ? "-" : status === 200 ? 512 + ((draw >>> 16) % 40_000) : 150 + ((draw >>> 16) % 400)
      const referer = REFERERS[(draw >>> 5) % REFERERS.length]
      const agent = USER_AGENTS[(draw >>> 8) & 7]
      const protocol = PROTOCOLS[(draw >>> 11) & 3]
      return `${ip} - - [${timestamp}] "${method} ${url} ${protocol}" ${status} ${bytes} "${referer}" "${agent}"`
    }
  }
} as const satisfies Format
