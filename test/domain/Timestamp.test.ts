import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { formatInstant, parseEventTimeMs } from "../../src/domain/Timestamp.ts"

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/**
 * An independent reference: a strict regular expression plus a calendar check
 * done with `Date`'s own arithmetic. `undefined` when the text is not an instant.
 */
const referenceEventTimeMs = (text: string): number | undefined => {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const fraction = m[7]
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || day < 1) return undefined
  // Day 0 of the next month is the last day of this one; setUTCFullYear has no two-digit-year quirk.
  const lastDay = new Date(0)
  lastDay.setUTCFullYear(year, month, 0)
  if (day > lastDay.getUTCDate()) return undefined
  let offsetMinutes = 0
  if (m[8] !== undefined) {
    const oh = Number(m[9])
    const om = Number(m[10])
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = (oh * 60 + om) * (m[8] === "+" ? 1 : -1)
  }
  const millis = fraction === undefined ? 0 : Number((fraction + "000").slice(0, 3))
  const instant = new Date(0)
  instant.setUTCFullYear(year, month - 1, day)
  instant.setUTCHours(hour, minute, second, millis)
  return instant.getTime() - offsetMinutes * 60_000
}

describe("parseEventTimeMs", () => {
  describe("accepts", () => {
    it.each([
      ["2025-05-30T18:52:47Z", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-30T18:52:47+00:00", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-30T18:52:47-00:00", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-30T20:52:47+02:00", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-30T13:22:47-05:30", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-31T00:22:47.5+05:30", Date.UTC(2025, 4, 30, 18, 52, 47, 500)],
      ["2025-05-30T18:52:47.1Z", Date.UTC(2025, 4, 30, 18, 52, 47, 100)],
      ["2025-05-30T18:52:47.12Z", Date.UTC(2025, 4, 30, 18, 52, 47, 120)],
      ["2025-05-30T18:52:47.123Z", Date.UTC(2025, 4, 30, 18, 52, 47, 123)],
      ["2025-05-30T18:52:47.123456Z", Date.UTC(2025, 4, 30, 18, 52, 47, 123)],
      ["2025-05-30T18:52:47.123999999Z", Date.UTC(2025, 4, 30, 18, 52, 47, 123)],
      ["2025-05-30T18:52:47.000000000Z", Date.UTC(2025, 4, 30, 18, 52, 47, 0)],
      ["2025-05-30T18:52:47.123456+02:00", Date.UTC(2025, 4, 30, 16, 52, 47, 123)],
      ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
      ["2000-02-29T12:00:00Z", Date.UTC(2000, 1, 29, 12)],
      ["1970-01-01T00:00:00Z", 0],
      ["1969-12-31T23:59:59.999Z", -1],
      ["2025-12-31T23:59:59.999+23:59", Date.UTC(2025, 11, 31, 0, 0, 59, 999)],
      ["2025-01-01T00:00:00-23:59", Date.UTC(2025, 0, 1, 23, 59, 0, 0)]
    ])("%s", (text, expected) => {
      assert.strictEqual(parseEventTimeMs(text), expected)
    })

    it("truncates fractional seconds instead of rounding them", () => {
      assert.strictEqual(parseEventTimeMs("2025-05-30T18:52:47.9999Z"), Date.UTC(2025, 4, 30, 18, 52, 47, 999))
      assert.strictEqual(parseEventTimeMs("2025-05-30T18:52:59.9999999Z"), Date.UTC(2025, 4, 30, 18, 52, 59, 999))
      assert.strictEqual(parseEventTimeMs("2025-05-30T18:52:47.0009Z"), Date.UTC(2025, 4, 30, 18, 52, 47, 0))
    })
  })

  describe("rejects", () => {
    it.each([
      ["February 30th", "2025-02-30T00:00:00Z"],
      ["February 29th in a non-leap year", "2025-02-29T00:00:00Z"],
      ["February 29th in a century that is not a leap year", "1900-02-29T00:00:00Z"],
      ["April 31st", "2025-04-31T00:00:00Z"],
      ["day 0", "2025-05-00T00:00:00Z"],
      ["day 32", "2025-01-32T00:00:00Z"],
      ["month 0", "2025-00-10T00:00:00Z"],
      ["month 13", "2025-13-10T00:00:00Z"],
      ["hour 24", "2025-05-30T24:00:00Z"],
      ["minute 60", "2025-05-30T18:60:00Z"],
      ["second 60 (leap second)", "2025-06-30T23:59:60Z"],
      ["a missing zone", "2025-05-30T18:52:47"],
      ["a missing zone after a fraction", "2025-05-30T18:52:47.123"],
      ["a lowercase t", "2025-05-30t18:52:47Z"],
      ["a lowercase z", "2025-05-30T18:52:47z"],
      ["a space separator", "2025-05-30 18:52:47Z"],
      ["a dot with no digits", "2025-05-30T18:52:47.Z"],
      ["a comma as decimal separator", "2025-05-30T18:52:47,123Z"],
      ["trailing garbage after Z", "2025-05-30T18:52:47Zjunk"],
      ["trailing space", "2025-05-30T18:52:47Z "],
      ["leading space", " 2025-05-30T18:52:47Z"],
      ["trailing garbage after an offset", "2025-05-30T18:52:47+02:00:00"],
      ["an offset of +24:00", "2025-05-30T18:52:47+24:00"],
      ["an offset of -24:00", "2025-05-30T18:52:47-24:00"],
      ["an offset minute of 60", "2025-05-30T18:52:47+01:60"],
      ["an offset without a colon", "2025-05-30T18:52:47+0200"],
      ["an hour-only offset", "2025-05-30T18:52:47+02"],
      ["a short string", "2025-05-30T18:52Z"],
      ["a date alone", "2025-05-30"],
      ["the empty string", ""],
      ["a five-digit year", "12025-05-30T18:52:47Z"],
      ["a two-digit year", "25-05-30T18:52:47Z"],
      ["a non-ASCII digit", "2025-05-30T18:52:4٧Z"],
      ["a letter in a digit position", "2025-05-3OT18:52:47Z"],
      ["slashes in the date", "2025/05/30T18:52:47Z"],
      ["a fraction with a letter", "2025-05-30T18:52:47.12aZ"]
    ])("%s", (_name, text) => {
      assert.isUndefined(parseEventTimeMs(text))
    })
  })

  it("accepts February 29th only in leap years", () => {
    for (let year = 1896; year <= 2104; year++) {
      const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      const parsed = parseEventTimeMs(`${year}-02-29T00:00:00Z`)
      if (leap) assert.strictEqual(parsed, Date.UTC(year, 1, 29), `${year}`)
      else assert.isUndefined(parsed, `${year}`)
    }
  })

  it("matches Date.UTC for random instants written with random offsets and 0-9 fraction digits", () => {
    const min = Date.UTC(1000, 0, 2)
    const max = Date.UTC(9999, 11, 30, 23, 59, 59, 999)
    fc.assert(
      fc.property(
        fc.integer({ min, max }),
        fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 9 }),
        fc.stringMatching(/^[0-9]{6}$/),
        (instantMs, offsetMinutes, useZ, fractionDigits, extraDigits) => {
          const offset = useZ ? 0 : offsetMinutes
          // The wall-clock reading in that zone, taken from Date's own UTC getters.
          const local = new Date(instantMs + offset * 60_000)
          const fraction = (pad(local.getUTCMilliseconds(), 3) + extraDigits).slice(0, fractionDigits)
          const zone = useZ
            ? "Z"
            : `${offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offset) / 60), 2)}:${pad(Math.abs(offset) % 60, 2)}`
          const text = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
            `T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
            (fractionDigits === 0 ? "" : `.${fraction}`) + zone
          const keptMillis = fractionDigits === 0 ? 0 : Number((fraction + "00").slice(0, 3))
          const expected = Date.UTC(
            local.getUTCFullYear(),
            local.getUTCMonth(),
            local.getUTCDate(),
            local.getUTCHours(),
            local.getUTCMinutes(),
            local.getUTCSeconds(),
            keptMillis
          ) - offset * 60_000
          assert.strictEqual(parseEventTimeMs(text), expected, text)
        }
      ),
      { numRuns: 5000 }
    )
  })

  it("agrees with a regex-and-Date reference on random near-timestamps", () => {
    // Each part is usually well formed, so many strings are valid and the invalid ones are
    // invalid in one or two places (or only in their calendar values: day 39, hour 29, minute 69).
    const mostly = (usual: fc.Arbitrary<string>, ...unusual: Array<string>) =>
      fc.oneof({ weight: 40, arbitrary: usual }, ...unusual.map((u) => ({ weight: 1, arbitrary: fc.constant(u) })))
    const digit = fc.constantFrom(..."0123456789")
    const near = fc.tuple(
      mostly(fc.stringMatching(/^[0-9]{4}$/), "202", "20255", "-2025", "2O25"),
      mostly(fc.constant("-"), "/", ""),
      mostly(fc.tuple(fc.constantFrom("0", "1"), digit).map((t) => t.join("")), "13", "1", "a1"),
      mostly(fc.constant("-"), ":"),
      mostly(fc.tuple(fc.constantFrom("0", "1", "2", "3"), digit).map((t) => t.join("")), "3", " 1"),
      mostly(fc.constant("T"), "t", " ", ""),
      mostly(fc.tuple(fc.constantFrom("0", "1", "2"), digit).map((t) => t.join("")), "2", "x0"),
      mostly(fc.constant(":"), "-", ""),
      mostly(fc.tuple(fc.constantFrom("0", "1", "2", "3", "4", "5", "6"), digit).map((t) => t.join("")), "5"),
      mostly(fc.constant(":"), "."),
      mostly(fc.tuple(fc.constantFrom("0", "1", "2", "3", "4", "5", "6"), digit).map((t) => t.join("")), "5", "5a"),
      mostly(fc.oneof(fc.constant(""), fc.stringMatching(/^\.[0-9]{0,10}$/)), ".1a", ",5", "."),
      mostly(
        fc.oneof(
          fc.constant("Z"),
          fc.tuple(fc.constantFrom("+", "-"), fc.constantFrom("0", "1", "2"), digit, fc.constant(":"), fc.constantFrom("0", "3", "5", "6"), digit)
            .map((parts) => parts.join(""))
        ),
        "z", "", "+", "Z ", "ZZ", "+0200", "+02", "+02:00:00", "+24:00"
      )
    ).map((parts) => parts.join(""))
    let valid = 0
    fc.assert(
      fc.property(near, (text) => {
        const expected = referenceEventTimeMs(text)
        if (expected !== undefined) valid++
        assert.strictEqual(parseEventTimeMs(text), expected, JSON.stringify(text))
      }),
      { numRuns: 20000 }
    )
    // The generator must exercise both outcomes, or the property says little.
    assert.isAbove(valid, 500)
    assert.isBelow(valid, 19500)
  })

  it("agrees with the reference on runs of instants that share their minute (the remembered prefix)", () => {
    // A few minute prefixes, valid and not (one that fails only the calendar), each followed by
    // tails that vary only in the seconds, fraction and zone: most reads reuse the last prefix.
    const prefix = fc.constantFrom("2025-05-30T18:52", "2025-05-30T18:53", "2024-02-29T23:59", "2025-02-29T23:59", "2025-05-30T18:5x")
    const tail = fc.tuple(
      fc.constantFrom(":00", ":07", ":59", ":60", ":5", "-07", ":7a"),
      fc.constantFrom("", ".1", ".123", ".123456", "."),
      fc.constantFrom("Z", "+02:00", "-05:30", "+24:00", "", "z")
    ).map((parts) => parts.join(""))
    let valid = 0
    fc.assert(
      fc.property(fc.array(fc.tuple(prefix, fc.array(tail, { minLength: 1, maxLength: 5 })), { minLength: 1, maxLength: 6 }), (groups) => {
        for (const [head, tails] of groups) {
          for (const rest of tails) {
            const text = head + rest
            const expected = referenceEventTimeMs(text)
            if (expected !== undefined) valid++
            assert.strictEqual(parseEventTimeMs(text), expected, JSON.stringify(text))
          }
        }
      }),
      { numRuns: 2000 }
    )
    assert.isAbove(valid, 1000)
  })

  it("never throws and agrees with the reference on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        assert.strictEqual(parseEventTimeMs(text), referenceEventTimeMs(text))
      }),
      { numRuns: 5000 }
    )
  })
})

describe("formatInstant", () => {
  it("writes UTC with milliseconds and Z", () => {
    assert.strictEqual(formatInstant(Date.UTC(2025, 4, 30, 18, 52, 30, 0)), "2025-05-30T18:52:30.000Z")
    assert.strictEqual(formatInstant(Date.UTC(2025, 4, 30, 18, 53, 5, 123)), "2025-05-30T18:53:05.123Z")
    assert.strictEqual(formatInstant(0), "1970-01-01T00:00:00.000Z")
  })
})

describe("parseEventTimeMs remembers the last date", () => {
  it("never lets a remembered valid date vouch for an invalid one", () => {
    // Each pair: a valid date, then an invalid one whose digits sit close to it.
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["2025-02-08T00:00:00Z", "2025-01-40T00:00:00Z"],
      ["2025-02-28T10:00:00Z", "2025-02-29T10:00:00Z"],
      ["2025-04-30T10:00:00Z", "2025-04-31T10:00:00Z"],
      ["2025-03-01T10:00:00Z", "2025-02-33T10:00:00Z"]
    ]
    for (const [valid, invalid] of pairs) {
      assert.isDefined(parseEventTimeMs(valid), valid)
      assert.isUndefined(parseEventTimeMs(invalid), invalid)
      assert.isDefined(parseEventTimeMs(valid), `${valid} again`)
    }
  })

  it("gives the same instant for a date whether or not it was just seen", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
        fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
        (a, b) => {
          const text = (d: Date) => d.toISOString()
          parseEventTimeMs(text(a))
          assert.strictEqual(parseEventTimeMs(text(b)), b.getTime())
          assert.strictEqual(parseEventTimeMs(text(b)), b.getTime())
        }
      ),
      { numRuns: 2000 }
    )
  })
})

describe("parseEventTimeMs remembers the last offset", () => {
  it("never lets a remembered valid offset vouch for another, valid or not", () => {
    const at = "2025-05-30T18:52:47.123"
    // Each run: offsets one byte apart, read one after the other, each judged on its own.
    const runs: ReadonlyArray<ReadonlyArray<string>> = [
      ["+02:00", "+02:01", "+02:00", "-02:00", "+02:0x", "+02:60", "+02:00"],
      ["+23:59", "+24:59", "+23:59", "+23-59", "+23:5", "+23:59"],
      ["-05:30", "-05:30", "+05:30", "-05:3 ", "-0530Z", "-05:30"]
    ]
    for (const run of runs) {
      for (const offset of run) {
        const text = `${at}${offset}`
        const expected = /^[+-]([01][0-9]|2[0-3]):[0-5][0-9]$/.test(offset)
          ? Date.UTC(2025, 4, 30, 18, 52, 47, 123) -
            (offset[0] === "+" ? 1 : -1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000
          : undefined
        assert.strictEqual(parseEventTimeMs(text), expected, text)
      }
    }
  })

  it("reads a fraction of any length four digits at a time, whatever byte ends it", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9]{0,13}$/),
        // Bytes next to the digits (`/` and `:`), zones, other ASCII and non-ASCII.
        fc.oneof(fc.constantFrom("Z", "+02:00", "/", ":", "Z0", "\u0000", "\u00b9", "\u00ff", ""), fc.string({ unit: "binary", maxLength: 3 })),
        (digits, rest) => {
          const text = `2025-05-30T18:52:47.${digits}${rest}`
          assert.strictEqual(parseEventTimeMs(text), referenceEventTimeMs(text), JSON.stringify(text))
        }
      ),
      { numRuns: 10_000 }
    )
  })
})
