/**
 * Byte-level pieces of JSON for the fast path (see `Json.ts`): fixed bytes
 * compared a word at a time, a scan over the plain bytes of a string four at a
 * time, the number grammar, literals and whitespace. The scanners return an
 * index, or -1 where the bytes are not what JSON allows, so that the caller
 * defers.
 */
import { firstFlagged } from "../ByteWords.ts"

/**
 * Fixed bytes (at least 4), compared a word at a time: eight bytes as a double where that is exact,
 * else four as an integer. Two doubles are equal exactly when their bits are, except NaN (equal to
 * nothing) and the two zeros (equal to each other); a word of the literal that is neither compares
 * by its bits, whatever the input holds. Every 8-byte word of an ASCII key is such a word.
 */
export class Literal {
  readonly length: number
  readonly bytes: Uint8Array
  // The offsets of the words that cover the bytes (the last may overlap the one before) and their values.
  private readonly offsets: ReadonlyArray<number>
  private readonly words: ReadonlyArray<number>
  private readonly wide: boolean
  private readonly first: number
  private readonly secondOffset: number
  private readonly second: number

  constructor(bytes: Uint8Array) {
    const copy = Uint8Array.from(bytes)
    this.bytes = copy
    this.length = copy.length
    const view = new DataView(copy.buffer)
    const wordsAt = (size: number) => {
      const offsets: Array<number> = []
      for (let offset = 0; offset < copy.length - size; offset += size) offsets.push(offset)
      offsets.push(copy.length - size)
      return offsets
    }
    const doubles = copy.length >= 8 ? wordsAt(8) : []
    const values = doubles.map((offset) => view.getFloat64(offset, true))
    this.wide = doubles.length > 0 && values.every((value) => !Number.isNaN(value) && value !== 0)
    this.offsets = this.wide ? doubles : wordsAt(4)
    this.words = this.wide ? values : this.offsets.map((offset) => view.getInt32(offset, true))
    this.first = this.words[0]!
    // A literal of one word compares it twice: no test of the count on the way.
    this.secondOffset = this.offsets[Math.min(1, this.offsets.length - 1)]!
    this.second = this.words[Math.min(1, this.words.length - 1)]!
  }

  /** Whether the bytes stand at `at` in `view`. */
  at(view: DataView<ArrayBufferLike>, at: number): boolean {
    if (at + this.length > view.byteLength) return false
    const offsets = this.offsets
    const words = this.words
    if (this.wide) {
      if (view.getFloat64(at, true) !== this.first || view.getFloat64(at + this.secondOffset, true) !== this.second) return false
      for (let i = 2; i < offsets.length; i++) if (view.getFloat64(at + offsets[i]!, true) !== words[i]) return false
      return true
    }
    if (view.getInt32(at, true) !== this.first || view.getInt32(at + this.secondOffset, true) !== this.second) return false
    for (let i = 2; i < offsets.length; i++) if (view.getInt32(at + offsets[i]!, true) !== words[i]) return false
    return true
  }
}

export const sameBytes = (a: Uint8Array, b: Uint8Array | undefined): boolean =>
  b !== undefined && a.length === b.length && a.every((x, i) => x === b[i])

// Deeper values go to JSON.parse: the skip recurses.
export const MAX_DEPTH = 16

/** Four ASCII bytes as one little-endian word, as `getInt32(p, true)` reads them. */
const wordOf = (text: string): number =>
  text.charCodeAt(0) | (text.charCodeAt(1) << 8) | (text.charCodeAt(2) << 16) | (text.charCodeAt(3) << 24)

const NULL_WORD = wordOf("null")
const TRUE_WORD = wordOf("true")
// `false` is `f` and these four.
const ALSE_WORD = wordOf("alse")

/** The end of `null`, `true` or `false` at `p` (its first byte is `c`), or -1: one word compared. */
export const literalEnd = (view: DataView<ArrayBufferLike>, p: number, c: number): number => {
  if (c === 102) return p + 5 <= view.byteLength && view.getInt32(p + 1, true) === ALSE_WORD ? p + 5 : -1
  if (p + 4 > view.byteLength) return -1
  const word = view.getInt32(p, true)
  return (c === 110 ? word === NULL_WORD : c === 116 && word === TRUE_WORD) ? p + 4 : -1
}

export const skipWhitespace = (bytes: Uint8Array, p: number): number => {
  let c = bytes[p]
  while (c === 32 || c === 9 || c === 13) c = bytes[++p]
  return p
}

/**
 * The first index from `p` whose byte may end or escape a JSON string, or be outside printable
 * ASCII (`"`, `\\`, below 0x20, 0x80 and up), skipping four plain bytes at a time; the caller
 * looks at that byte. A tail shorter than four bytes is the caller's too.
 */
export const plainRunEnd = (view: DataView<ArrayBufferLike>, p: number, length: number): number => {
  while (p + 4 <= length) {
    const x = view.getInt32(p, true)
    const quote = x ^ 0x22222222
    const backslash = x ^ 0x5c5c5c5c
    // Per byte: below 0x20, or zero after the XOR (a quote, a backslash), or its top bit set.
    const flags = (((x - 0x20202020) & ~x) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | x) &
      0x80808080
    if (flags !== 0) return p + firstFlagged(flags)
    p += 4
  }
  return p
}

export const isHexDigit = (c: number | undefined): boolean =>
  c !== undefined && ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))

/**
 * The end of a JSON number at `p` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or -1. Each byte is
 * read once (a read past the end is undefined, which no comparison accepts).
 */
export const numberEnd = (bytes: Uint8Array, p: number): number => {
  let c = bytes[p]!
  if (c === 45) c = bytes[++p]!
  if (c === 48) {
    c = bytes[++p]!
  } else {
    if (!(c >= 49 && c <= 57)) return -1
    do c = bytes[++p]!
    while (c >= 48 && c <= 57)
  }
  if (c === 46) {
    c = bytes[++p]!
    if (!(c >= 48 && c <= 57)) return -1
    do c = bytes[++p]!
    while (c >= 48 && c <= 57)
  }
  if (c === 101 || c === 69) {
    c = bytes[++p]!
    if (c === 43 || c === 45) c = bytes[++p]!
    if (!(c >= 48 && c <= 57)) return -1
    do c = bytes[++p]!
    while (c >= 48 && c <= 57)
  }
  return p
}

// 10^0 to 10^15, each exact as a double (parsed, not computed).
const POWERS_OF_TEN = Array.from({ length: 16 }, (_, k) => Number(`1e${k}`))
const TWO_TO_20 = 1_048_576
const TWO_TO_44 = 17_592_186_044_416

/**
 * The value `Number` gives the text `bytes[start, end)`: a JSON number, or digits with an optional
 * fraction, read from the bytes where that is exact, else by `Number`:
 * - Up to 15 digits with no sign or exponent: the digits as an integer (exact, being below 2^53)
 *   divided by a power of ten (exact) is one correctly rounded division, and so the same double as
 *   `Number` of the text, which rounds the exact value too.
 * - A whole part from 2^20 to 2^44 and up to 9 fraction digits, such as Caddy's `ts` in epoch
 *   seconds (`1748631167.5231447`): `whole + fraction / 10^k` rounds twice, yet to the same double.
 *   Rounding the fraction moves it by at most 2^-54, and no such decimal comes that close to a
 *   point halfway between two doubles: with 2^e <= whole, those points lie at odd multiples of
 *   2^(e-53) past `whole`, and `fraction / 10^k` differs from one by at least 1 / (5^k 2^(53-e)),
 *   which is more than 2^-54 for e >= 20 (and never 0 while 53 - e > k).
 */
export const numberValue = (bytes: Uint8Array, start: number, end: number): number => {
  // 14 whole digits, the point and 9 fraction digits at most.
  if (end - start > 24) return numberOfText(bytes, start, end)
  let whole = 0
  let fraction = 0
  let fractionDigits = 0
  let point = false
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 48
    if (d >= 0 && d <= 9) {
      if (point) {
        fraction = fraction * 10 + d
        fractionDigits++
      } else {
        whole = whole * 10 + d
      }
    } else if (d === -2 && !point) {
      point = true
    } else {
      return numberOfText(bytes, start, end)
    }
  }
  // Every byte was a digit but the point, if any.
  if (end - start - (point ? 1 : 0) <= 15) {
    const tenths = POWERS_OF_TEN[fractionDigits]!
    return fractionDigits === 0 ? whole : (whole * tenths + fraction) / tenths
  }
  if (fractionDigits <= 9 && whole >= TWO_TO_20 && whole < TWO_TO_44) return whole + fraction / POWERS_OF_TEN[fractionDigits]!
  return numberOfText(bytes, start, end)
}

const numberOfText = (bytes: Uint8Array, start: number, end: number): number => {
  // One native decoding of a Buffer's ASCII is about twice as fast as building the text a character at a time.
  if (bytes instanceof Buffer) return Number(bytes.toString("latin1", start, end))
  let text = ""
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!)
  return Number(text)
}
