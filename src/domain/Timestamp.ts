/**
 * ISO-8601 instants as they appear in access logs: `YYYY-MM-DDTHH:MM:SS`, any
 * number of fractional digits, and a mandatory zone (`Z` or `±hh:mm`).
 *
 * `InstantReader` is the one parser: it reads an instant from bytes, where
 * the analyzer's hot path finds its lines, and is strict (no February 30th, no
 * hour 24). It truncates to milliseconds, so that every later comparison is
 * plain integer arithmetic. `parseEventTimeMs` is the same parser for strings.
 */
import { firstFlagged } from "./ByteWords.ts"

/**
 * Reads instants from ASCII bytes. The lines of a log share their minute for long stretches (one
 * per time zone, when lines come in several), so the reader remembers the `YYYY-MM-DDTHH:MM`
 * prefixes it validated (as four 32-bit words each, in a small table indexed by a hash of them)
 * with their values, and parses only the seconds and what follows when a prefix is known.
 */
export class InstantReader {
  /** Milliseconds since the epoch of the instant the last successful `read` found. */
  epochMs = 0
  // Per slot: the four words of a validated prefix, and its minutes since the epoch (NaN: empty).
  private readonly prefixWords = new Int32Array(PREFIX_SLOTS * 4)
  private readonly prefixMinutes = new Float64Array(PREFIX_SLOTS).fill(Number.NaN)
  // The last `±hh:mm` offset validated, as the words `getInt32` and `getInt16` read (0 matches no offset: it starts with ±).
  private zoneHead = 0
  private zoneTail = 0
  private zoneMinutes = 0

  /**
   * Reads the instant that starts at `start` and ends before `limit` or at the first byte that
   * cannot continue it. Returns the index just after it, or -1 when the bytes are not an instant.
   * `view` is a DataView of the same bytes (callers reading many instants keep one).
   */
  read(bytes: Uint8Array, view: DataView<ArrayBufferLike>, start: number, limit: number): number {
    // Shortest form: 2025-05-30T18:52:47Z (20 bytes).
    if (limit - start < 20) return -1
    const word0 = view.getInt32(start, true)
    const word1 = view.getInt32(start + 4, true)
    const word2 = view.getInt32(start + 8, true)
    const word3 = view.getInt32(start + 12, true)
    const slot = (Math.imul(word3 ^ Math.imul(word2, 0x9e3779b1), 0x85ebca6b) >>> (32 - PREFIX_BITS)) * 4
    const words = this.prefixWords
    let minutes = this.prefixMinutes[slot >> 2]!
    if (
      Number.isNaN(minutes) || words[slot + 3] !== word3 || words[slot + 2] !== word2 || words[slot + 1] !== word1 ||
      words[slot] !== word0
    ) {
      const year = digits2(bytes, start) * 100 + digits2(bytes, start + 2)
      const month = digits2(bytes, start + 5)
      const day = digits2(bytes, start + 8)
      const hour = digits2(bytes, start + 11)
      const minute = digits2(bytes, start + 14)
      if (
        year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 ||
        bytes[start + 4] !== 45 || bytes[start + 7] !== 45 || bytes[start + 10] !== 84 || bytes[start + 13] !== 58
      ) return -1
      minutes = (daysFromCivil(year, month, day) * 24 + hour) * 60 + minute
      words[slot] = word0
      words[slot + 1] = word1
      words[slot + 2] = word2
      words[slot + 3] = word3
      this.prefixMinutes[slot >> 2] = minutes
    }
    const second = digits2(bytes, start + 17)
    if (bytes[start + 16] !== 58 || second < 0 || second > 59) return -1
    let position = start + 19
    let millis = 0
    if (bytes[position] === 46) {
      position++
      const fractionStart = position
      position = digitsEnd(bytes, view, position, limit)
      const fractionDigits = position - fractionStart
      if (fractionDigits === 0) return -1
      // Truncate, never round: the first three digits are the milliseconds (missing ones are zeros).
      millis = (bytes[fractionStart]! - 48) * 100
      if (fractionDigits > 1) millis += (bytes[fractionStart + 1]! - 48) * 10
      if (fractionDigits > 2) millis += bytes[fractionStart + 2]! - 48
    }
    if (position >= limit) return -1
    let offsetMinutes = 0
    const zone = bytes[position]
    if (zone === 90) {
      position++
    } else if (zone === 43 || zone === 45) {
      if (position + 6 > limit) return -1
      // The offset of a log's lines is mostly one: the last one read is compared first, as two words.
      const head = view.getInt32(position, true)
      const tail = view.getInt16(position + 4, true)
      if (head === this.zoneHead && tail === this.zoneTail) {
        offsetMinutes = this.zoneMinutes
      } else {
        if (bytes[position + 3] !== 58) return -1
        const offsetHours = digits2(bytes, position + 1)
        const offsetMins = digits2(bytes, position + 4)
        if (offsetHours < 0 || offsetHours > 23 || offsetMins < 0 || offsetMins > 59) return -1
        offsetMinutes = (offsetHours * 60 + offsetMins) * (zone === 43 ? 1 : -1)
        this.zoneHead = head
        this.zoneTail = tail
        this.zoneMinutes = offsetMinutes
      }
      position += 6
    } else {
      return -1
    }
    this.epochMs = (minutes - offsetMinutes) * 60_000 + second * 1000 + millis
    return position
  }
}

/**
 * The index of the first byte from `p` (before `limit`) that is not an ASCII digit, four bytes at a
 * time: with `y = byte ^ 0x30` a digit is `y <= 9`, and `(y + 0x76) | y` has its top bit set
 * exactly for the others (see `firstFlagged` for why the lowest flag is a true one).
 */
const digitsEnd = (bytes: Uint8Array, view: DataView<ArrayBufferLike>, p: number, limit: number): number => {
  while (p + 4 <= limit) {
    const y = view.getInt32(p, true) ^ 0x30303030
    const flags = ((y + 0x76767676) | y) & 0x80808080
    if (flags !== 0) return p + firstFlagged(flags)
    p += 4
  }
  while (p < limit && bytes[p]! >= 48 && bytes[p]! <= 57) p++
  return p
}

const PREFIX_BITS = 4
const PREFIX_SLOTS = 1 << PREFIX_BITS

const stringReader = new InstantReader()
let scratch = new Uint8Array(64)
let scratchView = new DataView(scratch.buffer)

/**
 * Milliseconds since the epoch, or `undefined` when the text is not a valid
 * instant. `start`/`end` select a part of `text`, so callers need not slice.
 */
export const parseEventTimeMs = (text: string, start = 0, end = text.length): number | undefined => {
  const length = end - start
  if (length > scratch.length) {
    scratch = new Uint8Array(length * 2)
    scratchView = new DataView(scratch.buffer)
  }
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(start + i)
    // Every character of an instant is ASCII; anything else becomes a byte no instant contains.
    scratch[i] = code < 128 ? code : 255
  }
  return stringReader.read(scratch, scratchView, 0, length) === length ? stringReader.epochMs : undefined
}

/** `2025-05-30T18:52:30.000Z`: the one output format for instants. */
export const formatInstant = (epochMs: number): string => new Date(epochMs).toISOString()

// A non-digit makes the pair negative, which every range check above refuses.
export const digits2 = (bytes: Uint8Array, at: number): number => {
  const tens = bytes[at]! - 48
  const ones = bytes[at + 1]! - 48
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1e6
}

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
export const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
export const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146097 + dayOfEra - 719468
}
