/**
 * The flag builders, parsed by the CLI module as a command line would give them:
 * values in range pass, values out of range are refused with a message that names
 * the flag and what was expected, and defaults (also from the environment) go
 * through the same checks.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CliError, Flag } from "effect/cli"
import * as Flags from "../../src/cli/Flags.ts"
import { describeCliError } from "../../src/cli/Usage.ts"
import { parseBrokers } from "../../src/domain/Options.ts"

/** Parses `flag` from `--name value` (or from nothing when `value` is undefined). */
const parse = <A>(flag: Flag.Flag<A>, name: string, value?: string) =>
  flag.parse({ arguments: [], flags: value === undefined ? {} : { [name]: [value] } }).pipe(
    Effect.map(([, parsed]) => parsed),
    Effect.provide(NodeServices.layer)
  )

/** The one-line message a refused value gets. */
const refusal = <A>(flag: Flag.Flag<A>, name: string, value?: string) =>
  parse(flag, name, value).pipe(
    Effect.flip,
    Effect.map((error) => {
      assert.isTrue(CliError.isCliError(error), String(error))
      return describeCliError(error as CliError.CliError)
    })
  )

describe("duration flags", () => {
  const window = Flags.duration("window", "Window size.", "30s", { minMs: 1 })

  it.effect("take the documented forms in milliseconds, and the default through the same parser", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* parse(window, "window"), 30_000)
      assert.strictEqual(yield* parse(window, "window", "1m"), 60_000)
      assert.strictEqual(yield* parse(window, "window", "250ms"), 250)
      assert.strictEqual(yield* parse(window, "window", "365h"), 365 * 3_600_000)
    }))

  it.effect("refuse out-of-range durations at the flag, naming it and the value", () =>
    Effect.gen(function*() {
      for (const text of ["99999999999999h", "8761h", `${"9".repeat(400)}s`, "525601m"]) {
        assert.strictEqual(yield* refusal(window, "window", text), `--window must be at most 365 days, got "${text}"`)
      }
      assert.strictEqual(yield* parse(window, "window", "8760h"), 365 * 24 * 3_600_000)
      assert.strictEqual(yield* refusal(window, "window", "0s"), `--window must be at least 1ms, got "0s"`)
      assert.strictEqual(yield* refusal(window, "window", "0.4ms"), `--window must be at least 1ms, got "0.4ms"`)
      assert.match(yield* refusal(window, "window", "10"), /^--window expects a duration such as 10s/)
    }))

  it.effect("a flag may take longer durations, up to its own bound", () =>
    Effect.gen(function*() {
      const maxFuture = Flags.duration("max-future", "Ahead.", "1h", { max: { ms: 1000 * 3_600_000, words: "1000 hours" } })
      assert.strictEqual(yield* parse(maxFuture, "max-future", "1000h"), 1000 * 3_600_000)
      assert.strictEqual(yield* refusal(maxFuture, "max-future", "1001h"), `--max-future must be at most 1000 hours, got "1001h"`)
    }))

  it.effect("a duration that may be 0 takes 0, and an optional one is none when left out", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* parse(Flags.duration("watermark", "Lateness.", "10s"), "watermark", "0s"), 0)
      const idle = Flags.optionalDuration("idle-timeout", "Idle.")
      assert.isTrue(Option.isNone(yield* parse(idle, "idle-timeout")))
      assert.deepStrictEqual(yield* parse(idle, "idle-timeout", "2s"), Option.some(2000))
      assert.strictEqual(
        yield* refusal(idle, "idle-timeout", "400d"),
        `--idle-timeout expects a duration such as 10s, 30s, 1m or "10 seconds", got "400d"`
      )
    }))
})

describe("whole-number flags", () => {
  const port = Flags.wholeNumber("port", "Port.", 9999, { min: 1, max: 65535 })
  const count = Flags.optionalWholeNumber("count", "Lines.", { min: 0, unit: "lines" })

  it.effect("take whole numbers within their bounds", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* parse(port, "port"), 9999)
      assert.strictEqual(yield* parse(port, "port", "1"), 1)
      assert.strictEqual(yield* parse(port, "port", "65535"), 65535)
      assert.deepStrictEqual(yield* parse(count, "count", "0"), Option.some(0))
      assert.isTrue(Option.isNone(yield* parse(count, "count")))
    }))

  it.effect("refuse fractions, words, numbers out of bounds and numbers too large to be exact", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* refusal(port, "port", "0"), `--port expects a whole number from 1 to 65535, got "0"`)
      assert.strictEqual(yield* refusal(port, "port", "65536"), `--port expects a whole number from 1 to 65535, got "65536"`)
      assert.strictEqual(yield* refusal(count, "count", "-3"), `--count expects a whole number of lines ≥ 0, got "-3"`)
      assert.strictEqual(yield* refusal(count, "count", "1.5"), `--count expects a whole number of lines ≥ 0, got "1.5"`)
      assert.strictEqual(yield* refusal(count, "count", "ten"), `--count expects a whole number of lines ≥ 0, got "ten"`)
      assert.strictEqual(
        yield* refusal(count, "count", "99999999999999999999"),
        `--count expects a whole number of lines ≥ 0, got "99999999999999999999"`
      )
    }))
})

describe("a flag with an environment fallback (--kafka-broker, $KAFKA_BROKERS)", () => {
  const brokers = Flags.parsedWithEnv("kafka-broker", "Brokers.", "TEST_BROKERS", "localhost:9092", parseBrokers)
  const withEnv = (env: Record<string, string>) =>
    <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.provide(self, ConfigProvider.layer(ConfigProvider.fromEnv({ env })))

  it.effect("takes the flag first, then the variable, then the default", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parse(brokers, "kafka-broker").pipe(withEnv({})), ["localhost:9092"])
      assert.deepStrictEqual(yield* parse(brokers, "kafka-broker").pipe(withEnv({ TEST_BROKERS: "a:1,b:2" })), ["a:1", "b:2"])
      assert.deepStrictEqual(
        yield* parse(brokers, "kafka-broker", "c:3").pipe(withEnv({ TEST_BROKERS: "a:1" })),
        ["c:3"]
      )
    }))

  it.effect("refuses a bad value, saying whether it came from the flag or the variable", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refusal(brokers, "kafka-broker", "nonsense").pipe(withEnv({})),
        `--kafka-broker expects host:port[,host:port], got "nonsense"`
      )
      assert.strictEqual(
        yield* refusal(brokers, "kafka-broker").pipe(withEnv({ TEST_BROKERS: "bad:x" })),
        `$TEST_BROKERS expects host:port[,host:port], got "bad:x"`
      )
    }))
})

describe("choices, refused by the library itself", () => {
  it.effect("say the flag, what it expects and what it got, on one line", () =>
    Effect.gen(function*() {
      const mode = Flags.choice("mode", ["local", "production"], "Mode.", "local")
      assert.strictEqual(yield* parse(mode, "mode"), "local")
      assert.strictEqual(yield* refusal(mode, "mode", "staging"), `--mode expects "local" | "production", got "staging"`)
    }))
})
