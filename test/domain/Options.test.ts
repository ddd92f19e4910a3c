import { assert, describe, it } from "@effect/vitest"
import {
  joinStatusDistributionWords,
  parseBrokers,
  parseDuration,
  parseRate,
  parseStatusDistribution,
  parseWholeNumber,
  type Parsed
} from "../../src/domain/Options.ts"

const ok = <A>(parsed: Parsed<A>): A => {
  if (!parsed.ok) assert.fail(`expected a value, got: ${parsed.message}`)
  return parsed.value
}
const message = <A>(parsed: Parsed<A>): string => {
  if (parsed.ok) assert.fail(`expected a rejection, got ${JSON.stringify(parsed.value)}`)
  return parsed.message
}

describe("parseDuration", () => {
  it("accepts the documented forms", () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ["10s", 10_000],
      ["30s", 30_000],
      ["1m", 60_000],
      ["10 seconds", 10_000],
      ["1 second", 1_000],
      ["250ms", 250],
      ["1.5h", 5_400_000],
      ["2 minutes", 120_000],
      ["  5s ", 5_000],
      ["10S", 10_000]
    ]
    for (const [text, ms] of cases) assert.strictEqual(ok(parseDuration("--window", text)), ms, text)
  })

  it("rejects a bare number, a negative, words and empty text, naming the flag and the value", () => {
    for (const text of ["10", "-5s", "abc", "", " ", "5 parsecs", "s", "1e3s", "10s5"]) {
      const m = message(parseDuration("--watermark", text))
      assert.include(m, "--watermark")
      assert.include(m, `"${text}"`)
    }
  })
})

describe("parseDuration: range", () => {
  it("takes up to 365 days and refuses more, also numbers too long to be finite", () => {
    assert.strictEqual(ok(parseDuration("--window", "8760h")), 365 * 24 * 3_600_000)
    assert.strictEqual(ok(parseDuration("--window", "525600 minutes")), 365 * 24 * 3_600_000)
    for (const text of ["8760.5h", "99999999999999h", `${"9".repeat(400)}ms`, "31536000001ms"]) {
      assert.strictEqual(message(parseDuration("--window", text)), `--window must be at most 365 days, got "${text}"`)
    }
  })

  it("refuses less than its minimum, after rounding to milliseconds", () => {
    assert.strictEqual(ok(parseDuration("--watermark", "0s")), 0)
    assert.strictEqual(ok(parseDuration("--window", "0.5ms", { minMs: 1 })), 1)
    assert.strictEqual(message(parseDuration("--window", "0.4ms", { minMs: 1 })), `--window must be at least 1ms, got "0.4ms"`)
    assert.strictEqual(message(parseDuration("--trigger", "0s", { minMs: 1 })), `--trigger must be at least 1ms, got "0s"`)
  })
})

describe("parseRate", () => {
  it("takes numbers ≥ 0, fractions included, and refuses the rest", () => {
    assert.strictEqual(ok(parseRate("0")), 0)
    assert.strictEqual(ok(parseRate("0.5")), 0.5)
    assert.strictEqual(ok(parseRate("2000")), 2000)
    for (const text of ["-5", "", " ", "fast", "Infinity", "1e999"]) {
      assert.strictEqual(
        message(parseRate(text)),
        `--rate expects lines per second, a number ≥ 0 (0 = as fast as possible), got "${text}"`
      )
    }
  })
})

describe("parseWholeNumber", () => {
  it("takes whole numbers within the bounds, both ends included", () => {
    assert.strictEqual(ok(parseWholeNumber("--port", "1", { min: 1, max: 65535 })), 1)
    assert.strictEqual(ok(parseWholeNumber("--port", " 65535 ", { min: 1, max: 65535 })), 65535)
    assert.strictEqual(ok(parseWholeNumber("--count", "0", { min: 0 })), 0)
  })

  it("refuses fractions, exponents, words and values out of bounds, saying the bounds", () => {
    assert.strictEqual(message(parseWholeNumber("--port", "0", { min: 1, max: 65535 })), `--port expects a whole number from 1 to 65535, got "0"`)
    for (const text of ["1.5", "1e3", "ten", "", "-1", "9007199254740993"]) {
      assert.strictEqual(
        message(parseWholeNumber("--count", text, { min: 0, unit: "lines" })),
        `--count expects a whole number of lines ≥ 0, got "${text}"`
      )
    }
  })
})

describe("parseStatusDistribution", () => {
  it("accepts space- and comma-separated percentages that add up to 100", () => {
    assert.deepStrictEqual(ok(parseStatusDistribution("90 5 5")), [90, 5, 5])
    assert.deepStrictEqual(ok(parseStatusDistribution("0,0,100")), [0, 0, 100])
    assert.deepStrictEqual(ok(parseStatusDistribution(" 34, 33 ,33 ")), [34, 33, 33])
  })

  it("rejects two or four values, a sum other than 100, negatives and fractions", () => {
    assert.include(message(parseStatusDistribution("50 50")), "three")
    assert.include(message(parseStatusDistribution("25 25 25 25")), "three")
    assert.include(message(parseStatusDistribution("50 50 50")), "100")
    assert.include(message(parseStatusDistribution("50 50 50")), "150")
    assert.include(message(parseStatusDistribution("-10 60 50")), "--status-dist")
    assert.include(message(parseStatusDistribution("90.5 4.5 5")), "--status-dist")
    assert.include(message(parseStatusDistribution("")), "--status-dist")
    assert.include(message(parseStatusDistribution("a b c")), "--status-dist")
  })
})

describe("joinStatusDistributionWords", () => {
  it("turns the seed's three words into one value and leaves everything else alone", () => {
    const joined = joinStatusDistributionWords(["generate", "--status-dist", "0", "0", "100", "--rate", "5"])
    assert.deepStrictEqual(joined, ["generate", "--status-dist", "0 0 100", "--rate", "5"])
    assert.deepStrictEqual(ok(parseStatusDistribution(joined[2]!)), [0, 0, 100])
  })

  it("keeps a single comma value, and two words (so that the parser can reject them)", () => {
    assert.deepStrictEqual(joinStatusDistributionWords(["--status-dist", "90,5,5", "--count", "3"]), [
      "--status-dist",
      "90,5,5",
      "--count",
      "3"
    ])
    const two = joinStatusDistributionWords(["--status-dist", "50", "50"])
    assert.strictEqual(two.length, 2)
    assert.isFalse(parseStatusDistribution(two[1]!).ok)
  })

  it("does not touch argv without --status-dist, nor a negative after it", () => {
    const argv = ["analyze", "--window", "30s", "--threshold", "100"]
    assert.deepStrictEqual(joinStatusDistributionWords(argv), argv)
    assert.deepStrictEqual(joinStatusDistributionWords(["--status-dist", "-10", "60", "50"]), ["--status-dist", "-10", "60", "50"])
  })
})

describe("parseBrokers", () => {
  it("accepts host:port lists", () => {
    assert.deepStrictEqual(ok(parseBrokers("localhost:9092")), ["localhost:9092"])
    assert.deepStrictEqual(ok(parseBrokers("a:1, b.example:19092")), ["a:1", "b.example:19092"])
  })

  it("rejects a missing port, a non-numeric port and empty text", () => {
    for (const text of ["", "localhost", "host:port", "a:1,b", "a:123456", "a b:1"]) {
      assert.include(message(parseBrokers(text)), "--kafka-broker")
    }
  })
})
