import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Literal, literalEnd, numberEnd, numberValue, plainRunEnd } from "../../../src/domain/formats/JsonBytes.ts"

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.length)

/**
 * Bytes that make the awkward doubles when eight of them are read as one: NaN and infinities
 * (0x7F or 0xFF then 0xF0 and up in the top two bytes), the zeros (all 0x00, or 0x80 on top),
 * denormals, and plain ASCII.
 */
const awkwardByte = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.constantFrom(0x00, 0x80, 0x7f, 0xff, 0xf0, 0xf8, 0xff, 0x01) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }
)

/** A literal, and input that is the same bytes, or the same with a few bytes changed. */
const literalAndInput = fc.tuple(
  fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 40 }),
    fc.array(awkwardByte, { minLength: 4, maxLength: 40 }).map((bytes) => Uint8Array.from(bytes)),
    // Eight equal bytes: whole words of NaN, zero or -0 when read as doubles.
    fc.tuple(fc.constantFrom(0x00, 0x80, 0xff, 0x7f), fc.integer({ min: 8, max: 24 })).map(([b, n]) => new Uint8Array(n).fill(b))
  ),
  fc.array(fc.tuple(fc.nat(), awkwardByte), { maxLength: 3 }),
  fc.nat({ max: 5 }),
  fc.nat({ max: 3 })
)

/** The first index from `p` of a byte that may end or escape a string, or be outside printable ASCII. */
const firstSpecial = (bytes: Uint8Array, p: number): number => {
  for (let i = p; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === 34 || c === 92 || c < 32 || c >= 128) return i
  }
  return bytes.length
}

/**
 * Decimal texts within a few units of their last digit of a point halfway between two doubles,
 * where a value rounded twice could land on the wrong side: a whole part of 1 to 2^52, the
 * halfway point past it (whole + (2u + 1) / 2^(53 - e)) written with 1 to 17 fraction digits, then
 * nudged.
 */
const nearlyHalfway = fc.tuple(fc.integer({ min: 0, max: 52 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.nat(), fc.integer({ min: 1, max: 17 }), fc.integer({ min: -2, max: 2 }))
  .map(([e, position, unit, fractionDigits, nudge]) => {
    const whole = 2n ** BigInt(e) + BigInt(Math.floor(position * 2 ** e))
    const unitsPerOne = 2n ** BigInt(52 - e)
    const halfway = 2n * (BigInt(unit) % unitsPerOne) + 1n
    // The fraction halfway / (2 unitsPerOne), in units of 10^-fractionDigits, rounded down, then nudged.
    const scaled = halfway * 10n ** BigInt(fractionDigits) / (2n * unitsPerOne) + BigInt(nudge)
    const limit = 10n ** BigInt(fractionDigits)
    const fraction = scaled < 0n ? 0n : scaled >= limit ? limit - 1n : scaled
    return `${whole}.${fraction.toString().padStart(fractionDigits, "0")}`
  })

describe("JsonBytes", () => {
  it("Literal.at is true exactly where the literal's bytes stand, whatever they are as doubles", () => {
    fc.assert(
      fc.property(literalAndInput, ([literal, edits, before, after]) => {
        const body = Uint8Array.from(literal)
        for (const [at, byte] of edits) body[at % body.length] = byte
        // The literal at offset `before`, with `after` bytes behind it; also cut short by one byte.
        const input = new Uint8Array(before + body.length + after).fill(0x2c)
        input.set(body, before)
        const same = body.every((b, i) => b === literal[i])
        const matcher = new Literal(literal)
        assert.strictEqual(matcher.at(viewOf(input), before), same, `${literal} at ${before} of ${input}`)
        const short = input.subarray(0, before + body.length - 1)
        assert.strictEqual(matcher.at(viewOf(short), before), false, "past the end")
      }),
      { numRuns: 20_000 }
    )
  })

  it("Literal.at tells zero bytes from a lone sign bit (-0 and 0 are equal doubles)", () => {
    for (let n = 4; n <= 24; n++) {
      const matcher = new Literal(new Uint8Array(n))
      assert.isTrue(matcher.at(viewOf(new Uint8Array(n)), 0), `${n} zero bytes`)
      for (let i = 0; i < n; i++) {
        const input = new Uint8Array(n)
        input[i] = 0x80
        assert.isFalse(matcher.at(viewOf(input), 0), `${n} zero bytes against 0x80 at ${i}`)
        // And the other way round: the literal holds the sign bit.
        const signed = new Literal(input)
        assert.isFalse(signed.at(viewOf(new Uint8Array(n)), 0), `0x80 at ${i} of ${n} against zero bytes`)
        assert.isTrue(signed.at(viewOf(input), 0), `0x80 at ${i} of ${n}`)
      }
    }
  })

  it("plainRunEnd stops at the first special byte of a whole word, else where fewer than four bytes are left", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }), {
          maxLength: 40
        }),
        fc.nat(),
        (values, from) => {
          const bytes = Uint8Array.from(values)
          const p = bytes.length === 0 ? 0 : from % bytes.length
          const end = plainRunEnd(viewOf(bytes), p, bytes.length)
          const special = firstSpecial(bytes, p)
          // Whole words are read while four bytes are left: the special byte if it lies in one, else the tail's start.
          const wordsEnd = p + Math.floor((bytes.length - p) / 4) * 4
          assert.strictEqual(end, special < wordsEnd ? special : wordsEnd, `${values} from ${p}`)
        }
      ),
      { numRuns: 20_000 }
    )
  })

  it("numberEnd ends where JSON's number grammar does, and refuses what it does not allow, up to the end of the bytes", () => {
    const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("-", "+", "0", "1", "9", "5", ".", "e", "E", ",", "}", " ", "x"), { maxLength: 12 }),
        fc.boolean(),
        (chars, wrapped) => {
          const text = chars.join("")
          // Inside a line (a byte after it) or at the very end of the bytes (a read past the end).
          const bytes = Buffer.from(wrapped ? `"${text}` : text)
          const from = wrapped ? 1 : 0
          const match = NUMBER.exec(text)
          const expected = match === null ? -1 : from + match[0].length
          // A `.` or an exponent that could still follow but has no digits makes it no number (JSON.parse refuses it).
          const rest = text.slice(match?.[0].length ?? 0)
          const dangling = match !== null &&
            ((match[2] === undefined && match[3] === undefined && rest.startsWith(".")) || (match[3] === undefined && /^[eE]/.test(rest)))
          assert.strictEqual(numberEnd(bytes, from), dangling ? -1 : expected, JSON.stringify(text))
        }
      ),
      { numRuns: 20_000 }
    )
  })

  it("numberValue gives the double Number gives the text, in a Buffer or not, around the 15 digits read without it", () => {
    const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`))
    const text = fc.oneof(
      digits(1, 18),
      fc.tuple(digits(1, 12), digits(1, 10)).map(([whole, fraction]) => `${whole}.${fraction}`),
      // 15 and 16 digits, where the division stops and Number takes over; ties at the microsecond.
      fc.tuple(digits(10, 10), digits(5, 6)).map(([whole, fraction]) => `${whole}.${fraction}`),
      fc.tuple(digits(1, 11), fc.constantFrom("5", "05", "0005", "0000005", "9999995")).map(([whole, tail]) => `${whole}.${tail}`),
      // Epoch seconds with Caddy's seven fraction digits, and up to ten, around 2^29 to 2^32.
      fc.tuple(fc.integer({ min: 2 ** 29 - 2, max: 2 ** 32 + 1 }), digits(6, 10)).map(([whole, fraction]) => `${whole}.${fraction}`),
      nearlyHalfway,
      fc.double({ min: 0, max: 1e13, noNaN: true }).map((d) => JSON.stringify(d)),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d))
    )
    fc.assert(
      fc.property(text, fc.boolean(), (text, inBuffer) => {
        const bytes = inBuffer ? Buffer.from(`:${text},`) : Uint8Array.from(`:${text},`, (ch) => ch.charCodeAt(0))
        const value = numberValue(bytes, 1, 1 + text.length)
        assert.isTrue(Object.is(value, Number(text)), `${text}: ${value} against ${Number(text)}`)
      }),
      { numRuns: 20_000 }
    )
  })

  it("literalEnd reads null, true and false whole, never past the end of the bytes", () => {
    for (const literal of ["null", "true", "false"]) {
      for (const text of [literal, `${literal},`, `${literal}}`, literal.slice(0, -1), `${literal.slice(0, -1)}x`, `x${literal.slice(1)}`]) {
        const bytes = Buffer.from(`:${text}`)
        const view = viewOf(bytes)
        const expected = text.startsWith(literal) ? 1 + literal.length : -1
        assert.strictEqual(literalEnd(view, 1, bytes[1]!), expected, text)
      }
    }
  })
})
