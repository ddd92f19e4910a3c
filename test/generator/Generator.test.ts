import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { CSV_HEADER, RecordDecoder } from "../../src/domain/LogRecord.ts"
import { generatedLines, runGenerator, type GeneratorConfig } from "../../src/generator/Generator.ts"
import { LineSink } from "../../src/transport/LineSink.ts"

const T = Date.parse("2025-05-30T18:52:00.000Z")

const config = (overrides: Partial<GeneratorConfig> = {}): GeneratorConfig => ({
  format: "json",
  urls: 10,
  statusDistribution: [90, 5, 5],
  seed: "seed-1",
  rate: 0,
  count: 1000,
  ...overrides
})

const collect = (c: GeneratorConfig) => Stream.runCollect(generatedLines(c))

interface Parsed {
  readonly timestamp: string
  readonly ip: string
  readonly method: string
  readonly url: string
  readonly status: number
}
const parseJson = (line: string): Parsed => JSON.parse(line) as Parsed
const withoutTimestamp = ({ timestamp: _, ...rest }: Parsed) => rest

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

describe("generatedLines: content", () => {
  it.effect("the same seed gives the same records (timestamps aside); another seed differs", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      const a1 = (yield* collect(config({ seed: "alpha", count: 5000 }))).map(parseJson)
      yield* TestClock.setTime(T + 3_600_000)
      const a2 = (yield* collect(config({ seed: "alpha", count: 5000 }))).map(parseJson)
      const b = (yield* collect(config({ seed: "beta", count: 5000 }))).map(parseJson)
      assert.strictEqual(a1.length, 5000)
      assert.deepStrictEqual(a1.map(withoutTimestamp), a2.map(withoutTimestamp))
      assert.notStrictEqual(a1[0]!.timestamp, a2[0]!.timestamp)
      // Another seed: essentially every record differs (same IP by chance is ~1 in 4 billion).
      const same = a1.filter((r, i) => r.ip === b[i]!.ip).length
      assert.isBelow(same, 5)
    }))

  it.effect("timestamps come from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T + 123)
      const lines = (yield* collect(config({ count: 10 }))).map(parseJson)
      for (const r of lines) assert.strictEqual(r.timestamp, "2025-05-30T18:52:00.123Z")
    }))

  // Each status is a Binomial(n = 100 000, p) count; its standard deviation is sqrt(n p (1 - p)):
  // about 95 for p = 0.9, 69 for p = 0.05, 126 for p = 0.2. A tolerance of 5 standard deviations
  // makes a false failure of a correct generator practically impossible (< 1e-6), while a wrong
  // split (even one point off, i.e. 1000 lines) is caught. The seed is fixed, so the run is deterministic anyway.
  for (const split of [[90, 5, 5], [70, 20, 10], [34, 33, 33]] as const) {
    it.effect(`status split follows --status-dist ${split.join(" ")} over 100 000 lines`, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T)
        const n = 100_000
        const lines = (yield* collect(config({ statusDistribution: split, count: n, seed: `split-${split.join("-")}` }))).map(parseJson)
        assert.strictEqual(lines.length, n)
        const counts = new Map<number, number>()
        for (const r of lines) counts.set(r.status, (counts.get(r.status) ?? 0) + 1)
        assert.deepStrictEqual([...counts.keys()].filter((s) => s !== 200 && s !== 404 && s !== 500), [])
        ;[200, 404, 500].forEach((status, i) => {
          const p = split[i]! / 100
          const sd = Math.sqrt(n * p * (1 - p))
          const got = counts.get(status) ?? 0
          assert.isAtMost(Math.abs(got - n * p), 5 * sd, `status ${status}: ${got} vs expected ${n * p}`)
        })
      }))
  }

  it.effect("--status-dist 0 0 100 gives only 500s; 100 0 0 only 200s", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      const all500 = (yield* collect(config({ statusDistribution: [0, 0, 100], count: 20_000 }))).map(parseJson)
      assert.isTrue(all500.every((r) => r.status === 500))
      const all200 = (yield* collect(config({ statusDistribution: [100, 0, 0], count: 20_000 }))).map(parseJson)
      assert.isTrue(all200.every((r) => r.status === 200))
    }))

  it.effect("URLs are /resource/1..N (all of them), methods the four, IPs valid IPv4", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      for (const urls of [1, 3, 10, 50]) {
        const lines = (yield* collect(config({ urls, count: 20_000 }))).map(parseJson)
        const seenUrls = new Set(lines.map((r) => r.url))
        assert.deepStrictEqual(
          [...seenUrls].sort(),
          Array.from({ length: urls }, (_, i) => `/resource/${i + 1}`).sort()
        )
        const methods = new Map<string, number>()
        for (const r of lines) methods.set(r.method, (methods.get(r.method) ?? 0) + 1)
        assert.deepStrictEqual([...methods.keys()].sort(), ["DELETE", "GET", "POST", "PUT"])
        // Evenly: each Binomial(20 000, 1/4), sd ≈ 61; allow 5 sd.
        for (const count of methods.values()) assert.isAtMost(Math.abs(count - 5000), 310)
        assert.deepStrictEqual(lines.filter((r) => !IPV4.test(r.ip)).map((r) => r.ip), [])
      }
    }))

  it.effect("every line decodes as a valid record (JSON and CSV); CSV starts with its header, once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      for (const format of ["json", "csv"] as const) {
        const lines = yield* collect(config({ format, count: 20_000, statusDistribution: [50, 25, 25] }))
        const decoder = new RecordDecoder(format)
        const body = format === "csv" ? lines.slice(1) : lines
        if (format === "csv") {
          assert.strictEqual(lines[0], CSV_HEADER)
          assert.strictEqual(lines.filter((l) => l === CSV_HEADER).length, 1)
        }
        assert.strictEqual(body.length, 20_000)
        for (const line of body) {
          assert.strictEqual(decoder.decode(line), "valid", line)
          assert.strictEqual(decoder.eventTimeMs, T)
        }
        if (format === "csv") {
          // And the CSV fields are the JSON fields, in the header's order.
          const [timestamp, ip, method, url, status] = body[0]!.split(",")
          assert.strictEqual(timestamp, "2025-05-30T18:52:00.000Z")
          assert.match(ip!, IPV4)
          assert.include(["GET", "POST", "PUT", "DELETE"], method)
          assert.match(url!, /^\/resource\/\d+$/)
          assert.include(["200", "404", "500"], status)
        }
      }
    }))

  it.effect("--count stops exactly, also past one internal batch", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      for (const count of [1, 4095, 4096, 4097, 10_001]) {
        assert.strictEqual((yield* collect(config({ count }))).length, count)
        assert.strictEqual((yield* collect(config({ count, format: "csv" }))).length, count + 1)
      }
    }))
})

describe("runGenerator: rate", () => {
  it.effect("--rate 500: 1000 lines take 2 s of clock time, evenly, with no start-up burst", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      const written: Array<{ at: number; line: string }> = []
      const sink = Layer.succeed(LineSink, {
        description: "test",
        write: (lines) =>
          Effect.clockWith((clock) =>
            Effect.sync(() => {
              const at = clock.currentTimeMillisUnsafe()
              for (const line of lines) written.push({ at, line })
            })
          )
      })
      const fiber = yield* runGenerator(config({ rate: 500, count: 1000 })).pipe(Effect.provide(sink), Effect.forkChild)
      yield* TestClock.adjust(0)
      assert.isAtMost(written.length, 1, "nothing but the first line at start-up")

      yield* TestClock.adjust(100)
      // Due by 100 ms: lines 0..50 (one every 2 ms).
      assert.isAtLeast(written.length, 45)
      assert.isAtMost(written.length, 55)

      // Step through the rest 10 ms at a time: never more than ~5 lines per step.
      let last = written.length
      for (let t = 110; t < 1990; t += 10) {
        yield* TestClock.adjust(10)
        assert.isAtMost(written.length - last, 6, `burst at ${t} ms`)
        assert.isAtLeast(written.length - last, 4, `stall at ${t} ms`)
        last = written.length
      }
      assert.isBelow(written.length, 1000, "done too early")
      yield* TestClock.adjust(20) // 2000 ms
      yield* Fiber.join(fiber)
      assert.strictEqual(written.length, 1000)
      // Line i is stamped when it is due, at i × 2 ms.
      written.forEach((w, i) => {
        assert.isAtMost(Math.abs(w.at - (T + 2 * i)), 2, `line ${i} at ${w.at - T} ms`)
        assert.strictEqual(parseJson(w.line).timestamp, new Date(w.at).toISOString())
      })
      assert.isAtLeast(written[999]!.at - T, 1990)
      assert.isAtMost(written[999]!.at - T, 2000)
    }))

  it.effect("the rate clock starts when the sink is ready: a first client after 5 s gets no burst", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      const written: Array<number> = []
      const ready = yield* Deferred.make<void>()
      const sink = Layer.succeed(LineSink, {
        description: "test",
        ready: Deferred.await(ready),
        write: (lines) =>
          Effect.clockWith((clock) => Effect.sync(() => lines.forEach(() => written.push(clock.currentTimeMillisUnsafe()))))
      })
      const fiber = yield* runGenerator(config({ rate: 100, count: 300 })).pipe(Effect.provide(sink), Effect.forkChild)
      yield* TestClock.adjust(5000)
      assert.strictEqual(written.length, 0, "nothing before the sink is ready")
      yield* Deferred.succeed(ready, undefined)
      yield* TestClock.adjust(0)
      assert.isAtMost(written.length, 1, "the first line only, not the 500 due since the start")
      yield* TestClock.adjust(1000)
      assert.isAtLeast(written.length, 99)
      assert.isAtMost(written.length, 101)
      yield* TestClock.adjust(2000)
      yield* Fiber.join(fiber)
      // Line i is due 10 ms × i after the sink became ready.
      written.forEach((at, i) => assert.isAtMost(Math.abs(at - (T + 5000 + 10 * i)), 10, `line ${i} at ${at - T} ms`))
    }))

  it.effect("--rate 0 writes everything without the clock moving", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T)
      let n = 0
      const sink = Layer.succeed(LineSink, { description: "test", write: (lines) => Effect.sync(() => void (n += lines.length)) })
      yield* runGenerator(config({ rate: 0, count: 50_000 })).pipe(Effect.provide(sink))
      assert.strictEqual(n, 50_000)
    }))
})
