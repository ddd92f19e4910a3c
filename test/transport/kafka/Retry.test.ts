/**
 * The Kafka retry policy under `TestClock`: the shared backoff's delays
 * (250 ms doubling to 5 s), silence for a blip, one notice for an outage and
 * one when it is over, and no retry at all for a fatal error.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { KafkaError } from "../../../src/transport/kafka/Errors.ts"
import { makeNotices } from "../../../src/transport/kafka/Notices.ts"
import { retryKafkaEffect } from "../../../src/transport/kafka/Retry.ts"

const unreachable = new KafkaError({
  reason: "Unreachable",
  message: "connecting the producer for http-logs failed: Kafka broker 127.0.0.1:9092 is unreachable (ECONNREFUSED)"
})
const tooLarge = new KafkaError({ reason: "RecordTooLarge", message: "sending 1 lines to http-logs failed: too large" })

/** An attempt that fails with `error` `failures` times, then succeeds; records the virtual time of each try. */
const flaky = (failures: number, error: KafkaError) => {
  const attemptsAt: Array<number> = []
  const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    attemptsAt.push(now)
    return attemptsAt.length <= failures ? Effect.fail(error) : Effect.succeed("sent")
  })
  return { attempt, attemptsAt }
}

/** Notices on a Console that keeps them, as the layers make theirs. */
const capturedNotices = Effect.gen(function*() {
  const lines: Array<string> = []
  const printedAt: Array<number> = []
  const clock = yield* Clock.Clock
  const console: Console.Console = {
    ...globalThis.console,
    error: (...args) => {
      lines.push(args.join(" "))
      printedAt.push(clock.currentTimeMillisUnsafe())
    }
  }
  const notices = yield* makeNotices.pipe(Effect.provideService(Console.Console, console))
  return { lines, printedAt, notices }
})

/** Advances the TestClock in 50 ms steps, letting the retrying fiber run between them. */
const advance = (ms: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += 50) {
      yield* TestClock.adjust("50 millis")
      yield* Effect.yieldNow
    }
  })

describe("retryKafkaEffect", () => {
  it.effect("retries an outage with 250 ms doubling to 5 s, then succeeds and says so", () =>
    Effect.gen(function*() {
      const { lines, notices } = yield* capturedNotices
      const { attempt, attemptsAt } = flaky(8, unreachable)
      const fiber = yield* Effect.forkChild(
        retryKafkaEffect(attempt, { what: "connecting the producer for http-logs", key: "connect", notices })
      )
      yield* advance(30_000)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result, "sent")
      // Gaps between tries: 250, 500, 1000, 2000, 4000, then capped at 5000.
      const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!)
      assert.deepStrictEqual(gaps, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
      // Two failures are a blip; the third starts one notice (rate-limited to one a minute), the success ends it.
      assert.deepStrictEqual(lines, [
        "connecting the producer for http-logs failed: Kafka broker 127.0.0.1:9092 is unreachable (ECONNREFUSED); " +
        "retrying in 1s (backoff up to 5s)",
        "Kafka: connecting the producer for http-logs succeeded after 23s of retries"
      ])
    }))

  it.effect("a blip of two failures stays silent", () =>
    Effect.gen(function*() {
      const { lines, notices } = yield* capturedNotices
      const { attempt, attemptsAt } = flaky(2, unreachable)
      const fiber = yield* Effect.forkChild(retryKafkaEffect(attempt, { what: "listing topics", key: "list", notices }))
      yield* advance(2_000)
      assert.strictEqual(yield* Fiber.join(fiber), "sent")
      assert.deepStrictEqual(attemptsAt, [0, 250, 750])
      assert.deepStrictEqual(lines, [])
    }))

  it.effect("a long outage repeats its notice once a minute, not once per try", () =>
    Effect.gen(function*() {
      const { lines, printedAt, notices } = yield* capturedNotices
      const { attempt, attemptsAt } = flaky(40, unreachable)
      const fiber = yield* Effect.forkChild(retryKafkaEffect(attempt, { what: "listing topics", key: "list", notices }))
      yield* advance(200_000)
      assert.strictEqual(yield* Fiber.join(fiber), "sent")
      // Tries at 0, 0.25, 0.75, 1.75, 3.75, 7.75 s, then every 5 s: the 41st, at 182.75 s, succeeds.
      assert.strictEqual(attemptsAt.length, 41)
      assert.strictEqual(attemptsAt.at(-1), 182_750)
      // The third failure (0.75 s) prints; then the first failure at least a minute after the last notice.
      assert.deepStrictEqual(printedAt, [750, 62_750, 122_750, 182_750])
      assert.strictEqual(lines.filter((l) => l.includes("retrying in")).length, 3)
      assert.strictEqual(lines.at(-1), "Kafka: listing topics succeeded after 183s of retries")
    }))

  it.effect("a fatal error is not retried: it fails at once, with no wait and no notice", () =>
    Effect.gen(function*() {
      const { lines, notices } = yield* capturedNotices
      const failed: Array<string> = []
      const { attempt, attemptsAt } = flaky(1, tooLarge)
      const fiber = yield* Effect.forkChild(
        retryKafkaEffect(attempt, {
          what: "sending 1 lines to http-logs",
          key: "send",
          notices,
          onFailure: (e) => Effect.sync(() => void failed.push(e.reason))
        })
      )
      yield* advance(10_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(Exit.isFailure(exit) ? exit.cause.reasons.map((r) => (r as any).error?.reason) : [], [
        "RecordTooLarge"
      ])
      assert.deepStrictEqual(attemptsAt, [0])
      assert.deepStrictEqual(failed, [])
      assert.deepStrictEqual(lines, [])
    }))

  it.effect("onFailure runs after each retried failure (a producer that lost its state is replaced)", () =>
    Effect.gen(function*() {
      const { notices } = yield* capturedNotices
      const lostState = new KafkaError({ reason: "ProducerState", message: "UNKNOWN_PRODUCER_ID" })
      const replaced: Array<number> = []
      const { attempt } = flaky(2, lostState)
      const fiber = yield* Effect.forkChild(
        retryKafkaEffect(attempt, {
          what: "sending",
          key: "send",
          notices,
          onFailure: () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void replaced.push(now)))
        })
      )
      yield* advance(2_000)
      assert.strictEqual(yield* Fiber.join(fiber), "sent")
      assert.deepStrictEqual(replaced, [0, 250])
    }))
})
