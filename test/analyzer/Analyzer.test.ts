/**
 * The analyzer pipeline end to end with in-memory sinks and a test
 * LineSource, under TestClock. Expectations come from the independent model
 * in `reference.ts` (or are written out by hand), never from src/.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { TestClock, TestConsole } from "effect/testing"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { runAnalyzer, type AnalyzerConfig } from "../../src/analyzer/Analyzer.ts"
import { CheckpointMismatch } from "../../src/analyzer/Epoch.ts"
import type { Alert } from "../../src/domain/Alert.ts"
import { AlertDestinations, type StateChange } from "../../src/destinations/AlertDestinations.ts"
import { AlertPublisher } from "../../src/sinks/AlertPublisher.ts"
import { type AnalyzerView, Telemetry } from "../../src/telemetry/Telemetry.ts"
import { CheckpointStore, type Checkpoint } from "../../src/sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "../../src/sinks/Stores.ts"
import type { SourcePosition } from "../../src/domain/SourcePosition.ts"
import { LineSource, SourceError, type LineBatch } from "../../src/transport/LineSource.ts"
import { framedLines } from "../../src/transport/LineSplitter.ts"
import { analyseReference, refLines, type RefResult, type RefRow } from "./reference.ts"

const SECOND = 1000
const NOW = Date.parse("2025-05-30T18:55:00.000Z")
const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))))

const configFor = (format: "json" | "csv", overrides: Partial<AnalyzerConfig> = {}): AnalyzerConfig => ({
  analysis: {
    format,
    windowMs: 30 * SECOND,
    watermarkMs: 10 * SECOND,
    threshold: 100,
    idleTimeoutMs: 30 * SECOND,
    maxFutureMs: 3600 * SECOND
  },
  triggerMs: 30 * SECOND,
  commitIntervalMs: 1 * SECOND,
  checkpointSettings: { format, window: "30000ms", watermark: "10000ms", threshold: 100 },
  ...overrides
})

const referenceFor = (bytes: Uint8Array, format: "json" | "csv"): RefResult =>
  analyseReference(bytes, { format, windowMs: 30 * SECOND, watermarkMs: 10 * SECOND, threshold: 100, maxFutureMs: 3600 * SECOND, nowMs: NOW })

// -- in-memory sinks ----------------------------------------------------------------

interface Published {
  readonly epoch: number
  readonly alerts: ReadonlyArray<Alert>
  readonly position: SourcePosition
}

class Sinks {
  readonly errors = new Map<number, ReadonlyArray<string>>()
  readonly windows = new Map<number, ReadonlyArray<string>>()
  readonly rejected = new Map<number, ReadonlyArray<string>>()
  readonly published: Array<Published> = []
  readonly checkpoint: { current: Checkpoint | undefined } = { current: undefined }
  /** Called before each checkpoint save; throw to simulate a crash at that point. */
  beforeSave: (checkpoint: Checkpoint) => void = () => {}

  layer() {
    return Layer.mergeAll(
      ErrorStore.layerMemory(this.errors),
      WindowStore.layerMemory(this.windows),
      RejectedStore.layerMemory(this.rejected),
      Layer.succeed(AlertPublisher, {
        description: "test",
        publish: (epoch, alerts, position) =>
          Effect.sync(() => void this.published.push({ epoch, alerts: [...alerts], position: { ...position } })),
        recover: () => Effect.void
      }),
      CheckpointStore.layerMemory(this.checkpoint, (checkpoint) => this.beforeSave(checkpoint))
    )
  }

  /** Lines of a store in epoch order. */
  static flat(parts: Map<number, ReadonlyArray<string>>): Array<string> {
    return [...parts.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, lines]) => lines)
  }
  errorLines(): Array<string> {
    return Sinks.flat(this.errors)
  }
  rows(): Array<RefRow> {
    return Sinks.flat(this.windows).map((line) => JSON.parse(line) as RefRow)
  }
  rejectedEntries(): Array<{ line: string; reason: string }> {
    return Sinks.flat(this.rejected).map((line) => JSON.parse(line) as { line: string; reason: string })
  }
  alerts(): Array<Alert> {
    return this.published.flatMap((p) => p.alerts)
  }
}

// -- test sources ---------------------------------------------------------------------

interface ByteSourceOptions {
  readonly chunkBytes: number
  /** Record every `from` passed to `batches`. */
  readonly calls?: Array<SourcePosition | undefined>
  /** Deliver only bytes before this offset, then fail with a SourceError (a lost connection). */
  readonly failAt?: number
}

/**
 * A replayable source over `bytes`, read in chunks of `chunkBytes` through the real line framing,
 * with byte offsets as positions, as the file source does.
 */
const byteSource = (bytes: Uint8Array, options: ByteSourceOptions) =>
  Layer.succeed(LineSource, {
    description: "test bytes",
    identity: "test:bytes",
    live: false,
    batches: (from) => {
      options.calls?.push(from)
      const start = from?.["bytes"] ?? 0
      const end = options.failAt ?? bytes.length
      const chunks: Array<Uint8Array> = []
      for (let offset = start; offset < end; offset += options.chunkBytes) {
        chunks.push(bytes.slice(offset, Math.min(end, offset + options.chunkBytes)))
      }
      const body = Stream.fromIterable(chunks, { chunkSize: 1 })
      const stream = options.failAt === undefined
        ? body
        : Stream.concat(body, Stream.fail(new SourceError({ message: "connection lost (test)" })))
      return framedLines(stream, 1024 * 1024, (consumed) => ({ bytes: start + consumed }))
    },
    commit: () => Effect.void
  })

const queueSource = (queue: Queue.Queue<LineBatch>) =>
  Layer.succeed(LineSource, {
    description: "test queue",
    identity: "test:queue",
    live: true,
    batches: () => Stream.fromQueue(queue),
    commit: () => Effect.void
  })

const batch = (lines: ReadonlyArray<string>): LineBatch => ({ lines, rejected: [], position: {} })

const line = (timestamp: string, ip: string, url: string, status: number) =>
  JSON.stringify({ timestamp, ip, method: "GET", url, status })

/** Lets forked fibers run until they block (on the queue or the TestClock). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

const reports = Effect.map(TestConsole.logLines, (lines) =>
  lines.filter((l): l is string => typeof l === "string" && /^(Final report|Report) at /.test(l)))

const sortRows = (rows: ReadonlyArray<RefRow>) =>
  [...rows].sort((a, b) => a.window_start.localeCompare(b.window_start) || a.status - b.status)

// -- replay -----------------------------------------------------------------------------

describe("runAnalyzer: replay of the mixed fixtures", () => {
  for (const [file, format] of [["mixed.jsonl", "json"], ["mixed.csv", "csv"]] as const) {
    for (const chunkBytes of [1 << 20, 97, 7]) {
      it.effect(`${file}, chunks of ${chunkBytes} bytes: sinks match the independent model`, () =>
        Effect.gen(function*() {
          yield* TestClock.setTime(NOW)
          const bytes = fixture(file)
          const expected = referenceFor(bytes, format)
          const sinks = new Sinks()
          yield* runAnalyzer(configFor(format)).pipe(
            Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes })))
          )

          assert.deepStrictEqual(sinks.errorLines(), expected.errors)
          assert.deepStrictEqual(sortRows(sinks.rows()), sortRows(expected.rows))
          // Every closed (window, status) has exactly one final row.
          const keys = sinks.rows().map((r) => `${r.window_start}|${r.status}`)
          assert.strictEqual(new Set(keys).size, keys.length)
          const rejected = sinks.rejectedEntries()
          assert.deepStrictEqual(rejected.map((r) => r.line).sort(), [...expected.rejectedLines].sort())
          for (const r of rejected) assert.isTrue(r.reason.length > 0, `no reason for ${r.line}`)
          assert.deepStrictEqual(
            sinks.alerts().map(({ alert_timestamp, alert, ...rest }) => rest),
            expected.alerts
          )
          for (const a of sinks.alerts()) {
            assert.strictEqual(a.alert, "ALERTE : Nombre d'erreurs élevé")
            assert.strictEqual(a.alert_timestamp, "2025-05-30T18:55:00.000Z")
          }
          const checkpoint = sinks.checkpoint.current!
          assert.isTrue(checkpoint.finished)
          assert.deepStrictEqual(checkpoint.analysis.counters, expected.counters)
          assert.deepStrictEqual(checkpoint.position, { bytes: bytes.length })

          // The final report repeats the counters.
          const final = (yield* reports).filter((r) => r.startsWith("Final report"))
          assert.strictEqual(final.length, 1)
          assert.include(final[0]!, `late errors ${expected.counters.late}`)
          assert.include(final[0]!, `rejected ${expected.counters.rejected}`)
        }))
    }
  }

  it.effect("the fixture's hand-checked facts (so the model itself is checked too)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const sinks = new Sinks()
      yield* runAnalyzer(configFor("json")).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(fixture("mixed.jsonl"), { chunkBytes: 64 })))
      )
      const row = (start: string, status: number) =>
        sinks.rows().find((r) => r.window_start === `2025-05-30T${start}Z` && r.status === status)
      // W0/404: 101 errors (one of them 18:52:29.9999999Z, truncated into W0), 31 IPs, urls 1..10.
      assert.deepStrictEqual(row("18:52:00.000", 404), {
        window_start: "2025-05-30T18:52:00.000Z",
        window_end: "2025-05-30T18:52:30.000Z",
        status: 404,
        error_count: 101,
        unique_ips: 31,
        urls: Array.from({ length: 10 }, (_, i) => `/resource/${i + 1}`)
      })
      // W1/500: exactly 100, no alert.
      assert.strictEqual(row("18:52:30.000", 500)?.error_count, 100)
      assert.strictEqual(row("18:52:30.000", 500)?.unique_ips, 30)
      // Late errors are not in any window: W0/500 and the 503 never get a row.
      assert.isUndefined(row("18:52:00.000", 500))
      assert.isFalse(sinks.rows().some((r) => r.status === 503))
      // W2 counts the -02:00 record; 399 and 100 are not errors; 400 and 599 are.
      assert.strictEqual(row("18:53:00.000", 404)?.error_count, 3)
      assert.strictEqual(row("18:53:00.000", 404)?.unique_ips, 2)
      assert.strictEqual(row("18:53:00.000", 500)?.error_count, 2)
      assert.strictEqual(row("18:53:00.000", 400)?.error_count, 1)
      assert.strictEqual(row("18:53:00.000", 401)?.error_count, 1)
      assert.strictEqual(row("18:53:00.000", 599)?.error_count, 1)
      assert.isUndefined(row("18:53:00.000", 399))
      assert.strictEqual(row("18:53:30.000", 404)?.error_count, 1)
      assert.strictEqual(sinks.rows().length, 8)
      const alerts = sinks.alerts()
      assert.strictEqual(alerts.length, 1)
      assert.strictEqual(alerts[0]!.window_start, "2025-05-30T18:52:00.000Z")
      assert.strictEqual(alerts[0]!.status, 404)
      assert.strictEqual(alerts[0]!.error_count, 101)
      assert.deepStrictEqual(sinks.checkpoint.current!.analysis.counters, {
        lines: 235, valid: 220, errors: 213, rejected: 15, late: 3,
        // Newest time 18:52:55.75 when the 503 of 16:53:05Z comes: 7,190.75 s behind; its window
        // ends 16:53:30, so --watermark must exceed 7,165.75 s.
        lateBehindMs: 7_190_750, lateWatermarkMs: 7_165_751, lateAfterClose: 0
      })
      assert.strictEqual(sinks.rejectedEntries().length, 15)
    }))

  it.effect("an alert is published in the epoch it fires, with the count at firing time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const bytes = fixture("mixed.jsonl")
      const chunkBytes = 500
      const sinks = new Sinks()
      // A long commit interval: epochs end only at alerts and at the end of input.
      yield* runAnalyzer(configFor("json", { commitIntervalMs: 3600 * SECOND })).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes })))
      )
      assert.strictEqual(sinks.published.length, 2) // the alert epoch, then the final epoch (no alerts)
      const firing = sinks.published[0]!
      assert.strictEqual(firing.alerts.length, 1)
      assert.strictEqual(firing.alerts[0]!.error_count, 101)
      assert.deepStrictEqual(sinks.published[1]!.alerts, [])

      // Where the alert epoch must end: the batch holding the 101st error ends at the last whole line
      // inside the chunk that holds that line's newline.
      const expected = referenceFor(bytes, "json")
      const lineEnds: Array<number> = []
      let offset = 0
      for (const l of refLines(bytes)) lineEnds.push((offset += l.length + 1))
      const alertLineEnd = lineEnds[expected.alertLineIndexes[0]!]!
      const chunkEnd = Math.ceil(alertLineEnd / chunkBytes) * chunkBytes
      const batchEnd = Math.max(...lineEnds.filter((e) => e <= chunkEnd))
      assert.deepStrictEqual(firing.position, { bytes: batchEnd })
      // Everything read up to there was written in or before the alert's epoch, nothing after it.
      const prefix = referenceFor(bytes.subarray(0, batchEnd), "json")
      const upToAlert = [...sinks.errors.entries()].filter(([e]) => e <= firing.epoch).flatMap(([, l]) => l)
      assert.deepStrictEqual(upToAlert, prefix.errors)
      assert.isTrue(prefix.errors.length < expected.errors.length)
    }))
})

// -- live source ------------------------------------------------------------------------

describe("runAnalyzer: live source", () => {
  const liveConfig = configFor("json", { triggerMs: 5 * SECOND, commitIntervalMs: 1 * SECOND })
  /** The analyzer running on a live source fed through `queue`, blocked waiting for it. */
  const startLive = Effect.gen(function*() {
    const queue = yield* Queue.unbounded<LineBatch>()
    const sinks = new Sinks()
    const fiber = yield* runAnalyzer(liveConfig).pipe(
      Effect.provide(Layer.mergeAll(sinks.layer(), queueSource(queue))),
      Effect.forkChild
    )
    yield* settle
    return { queue, sinks, fiber }
  })

  it.effect("reports every trigger, closes idle windows, counts later records for them as late", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW) // 18:55:00
      const { queue, sinks, fiber } = yield* startLive
      // Window [18:54:30, 18:55:00): three 404s from two IPs, one 500; a 200 moves the watermark to 18:54:40.
      yield* Queue.offer(queue, batch([
        line("2025-05-30T18:54:40.000Z", "1.1.1.1", "/resource/1", 404),
        line("2025-05-30T18:54:41.000Z", "1.1.1.2", "/resource/2", 404),
        line("2025-05-30T18:54:42.000Z", "1.1.1.1", "/resource/1", 404),
        line("2025-05-30T18:54:43.000Z", "1.1.1.3", "/resource/3", 500),
        line("2025-05-30T18:54:50.000Z", "1.1.1.4", "/resource/4", 200)
      ]))
      yield* settle
      assert.deepStrictEqual(yield* reports, [], "no report before the first trigger")

      yield* TestClock.adjust(4 * SECOND)
      assert.deepStrictEqual(yield* reports, [], "no report before the first trigger")
      // The errors were committed once the commit interval passed; the window is still open.
      assert.strictEqual(sinks.errorLines().length, 4)
      assert.deepStrictEqual(sinks.rows(), [])

      yield* TestClock.adjust(1 * SECOND) // 18:55:05: trigger
      const first = yield* reports
      assert.strictEqual(first.length, 1)
      assert.match(first[0]!, /^Report at 2025-05-30T18:55:05\.000Z/)
      assert.include(first[0]!, "lines read 5")
      assert.include(first[0]!, "late errors 0")
      assert.match(first[0]!, /18:54:30\.000Z → 18:55:00\.000Z\s+404\s+3\s+2\s+\/resource\/1, \/resource\/2/)
      assert.match(first[0]!, /18:54:30\.000Z → 18:55:00\.000Z\s+500\s+1\s+1\s+\/resource\/3/)

      // Idle: the last valid record came at 18:55:00; the window closes at 18:55:30, not before.
      yield* TestClock.adjust(24 * SECOND) // 18:55:29
      assert.deepStrictEqual(sinks.rows(), [], "closed before the idle timeout")
      yield* TestClock.adjust(1 * SECOND) // 18:55:30
      assert.deepStrictEqual(sortRows(sinks.rows()), [
        {
          window_start: "2025-05-30T18:54:30.000Z", window_end: "2025-05-30T18:55:00.000Z", status: 404,
          error_count: 3, unique_ips: 2, urls: ["/resource/1", "/resource/2"]
        },
        {
          window_start: "2025-05-30T18:54:30.000Z", window_end: "2025-05-30T18:55:00.000Z", status: 500,
          error_count: 1, unique_ips: 1, urls: ["/resource/3"]
        }
      ])

      // After the idle close: an error for the closed window is late; one for the next window is not.
      yield* Queue.offer(queue, batch([
        line("2025-05-30T18:54:50.000Z", "2.2.2.2", "/resource/5", 404),
        line("2025-05-30T18:55:20.000Z", "3.3.3.3", "/resource/6", 404)
      ]))
      yield* settle
      yield* TestClock.adjust(5 * SECOND) // 18:55:35: trigger
      const second = (yield* reports).slice(1)
      assert.isTrue(second.length >= 1)
      const latest = second[second.length - 1]!
      assert.include(latest, "late errors 1")
      assert.match(latest, /18:55:00\.000Z → 18:55:30\.000Z\s+404\s+1\s+1\s+\/resource\/6/)
      assert.notMatch(latest, /18:54:30\.000Z → 18:55:00\.000Z/)
      assert.strictEqual(sinks.errorLines().length, 6, "late errors are still written to errors/")
      assert.strictEqual(sinks.rows().length, 2, "no new row for the closed window")

      yield* Fiber.interrupt(fiber)
      const rows = sortRows(sinks.rows())
      assert.strictEqual(rows.length, 3)
      assert.deepStrictEqual(rows[2], {
        window_start: "2025-05-30T18:55:00.000Z", window_end: "2025-05-30T18:55:30.000Z", status: 404,
        error_count: 1, unique_ips: 1, urls: ["/resource/6"]
      })
      assert.strictEqual(sinks.checkpoint.current!.analysis.counters.late, 1)
      const all = yield* reports
      assert.match(all[all.length - 1]!, /^Final report at /)
    }))

  it.effect("interrupting the running analyzer closes every open window and flushes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const { queue, sinks, fiber } = yield* startLive
      yield* Queue.offer(queue, batch([
        line("2025-05-30T18:53:10.000Z", "1.1.1.1", "/resource/1", 404),
        line("2025-05-30T18:54:10.000Z", "1.1.1.2", "/resource/2", 500),
        line("2025-05-30T18:54:50.000Z", "1.1.1.3", "/resource/3", 502),
        "not a record"
      ]))
      yield* settle
      // Nothing durable yet: no clock time passed, so no commit happened.
      assert.deepStrictEqual(sinks.rows(), [])
      assert.strictEqual(sinks.checkpoint.current, undefined)

      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(sortRows(sinks.rows()).map((r) => [r.window_start, r.status, r.error_count]), [
        ["2025-05-30T18:53:00.000Z", 404, 1],
        ["2025-05-30T18:54:00.000Z", 500, 1],
        ["2025-05-30T18:54:30.000Z", 502, 1]
      ])
      assert.strictEqual(sinks.errorLines().length, 3)
      assert.deepStrictEqual(sinks.rejectedEntries().map((r) => r.line), ["not a record"])
      assert.isTrue(sinks.checkpoint.current!.finished)
      assert.deepStrictEqual(sinks.checkpoint.current!.analysis.cells, [])
      const all = yield* reports
      assert.match(all[all.length - 1]!, /^Final report at /)
    }))
})

// -- checkpoint and resume -----------------------------------------------------------

describe("runAnalyzer: checkpoint resume", () => {
  const bytes = fixture("mixed.jsonl")
  const failAt = Math.floor(bytes.length * 0.6) // mid-line, after the alert line

  /** One uninterrupted run, for comparison. */
  const uninterrupted = (config: AnalyzerConfig, chunkBytes: number) =>
    Effect.gen(function*() {
      const sinks = new Sinks()
      yield* runAnalyzer(config).pipe(Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes }))))
      return sinks
    })

  const assertSameOutputs = (resumed: Sinks, whole: Sinks) => {
    const expected = referenceFor(bytes, "json")
    assert.deepStrictEqual(resumed.errorLines(), whole.errorLines())
    assert.deepStrictEqual(resumed.errorLines(), expected.errors)
    assert.deepStrictEqual(sortRows(resumed.rows()), sortRows(whole.rows()))
    assert.deepStrictEqual(sortRows(resumed.rows()), sortRows(expected.rows))
    assert.deepStrictEqual(
      resumed.rejectedEntries().map((r) => r.line).sort(),
      whole.rejectedEntries().map((r) => r.line).sort()
    )
    assert.deepStrictEqual(resumed.alerts(), whole.alerts())
    assert.strictEqual(resumed.alerts().length, 1)
    assert.deepStrictEqual(resumed.checkpoint.current!.analysis.counters, expected.counters)
    assert.isTrue(resumed.checkpoint.current!.finished)
  }

  for (const [name, commitIntervalMs] of [["commits only at the alert", 3600 * SECOND], ["a commit per batch", 0]] as const) {
    it.effect(`a lost source mid-input, then a restart, gives one run's outputs (${name})`, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(NOW)
        const config = configFor("json", { commitIntervalMs })
        const sinks = new Sinks()
        const calls: Array<SourcePosition | undefined> = []

        const error = yield* runAnalyzer(config).pipe(
          Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 300, failAt, calls }))),
          Effect.flip
        )
        assert.strictEqual(error._tag, "SourceError")
        const saved = sinks.checkpoint.current!
        assert.isFalse(saved.finished)
        const savedBytes = saved.position["bytes"]!
        assert.isTrue(savedBytes > 0 && savedBytes <= failAt)
        // The checkpoint position is a line boundary.
        assert.strictEqual(bytes[savedBytes - 1], 10)

        yield* runAnalyzer(config).pipe(
          Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 300, calls })))
        )
        assert.deepStrictEqual(calls, [undefined, { bytes: savedBytes }])
        assertSameOutputs(sinks, yield* uninterrupted(config, 300))
      }))
  }

  it.effect("a signal during a replay keeps its windows open in the checkpoint; the rerun gives one run's outputs", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const config = configFor("json")
      const sinks = new Sinks()
      // The replay delivers the bytes before `failAt`, then waits: the signal comes mid-input.
      const waiting = Layer.succeed(LineSource, {
        description: "test bytes",
        identity: "test:bytes",
        live: false,
        batches: () =>
          framedLines(
            Stream.concat(Stream.fromIterable([bytes.slice(0, failAt)]), Stream.never),
            1024 * 1024,
            (consumed) => ({ bytes: consumed })
          ),
        commit: () => Effect.void
      })
      const fiber = yield* runAnalyzer(config).pipe(Effect.provide(Layer.mergeAll(sinks.layer(), waiting)), Effect.forkChild)
      yield* settle
      yield* Fiber.interrupt(fiber)
      const saved = sinks.checkpoint.current!
      assert.isFalse(saved.finished)
      assert.isTrue(saved.analysis.cells.length > 0, "the open windows stay in the checkpoint")
      const savedBytes = saved.position["bytes"]!
      assert.strictEqual(bytes[savedBytes - 1], 10)
      assert.isTrue(savedBytes > failAt - 300)
      // Only windows the watermark closed were written; none was closed by the stop.
      const closedByWatermark = referenceFor(bytes.slice(0, savedBytes), "json").rows.filter((row) =>
        Date.parse(row.window_end) <= (saved.analysis.closedThroughMs ?? -Infinity)
      )
      assert.deepStrictEqual(sortRows(sinks.rows()), sortRows(closedByWatermark))

      const calls: Array<SourcePosition | undefined> = []
      yield* runAnalyzer(config).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 300, calls })))
      )
      assert.deepStrictEqual(calls, [{ bytes: savedBytes }])
      assertSameOutputs(sinks, yield* uninterrupted(config, 300))
    }))

  it.effect("a crash after an epoch's parts are written but before its checkpoint: the parts are redone, not doubled", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const config = configFor("json", { commitIntervalMs: 0 })
      const sinks = new Sinks()
      const calls: Array<SourcePosition | undefined> = []
      let saves = 0
      sinks.beforeSave = (checkpoint) => {
        // Die while saving the first epoch that ends after the alert line's epoch.
        if (++saves > 1 && checkpoint.epoch > 0 && (checkpoint.position["bytes"] ?? 0) > failAt) {
          throw new Error("crash (test)")
        }
      }
      const exit = yield* runAnalyzer(config).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 300, calls }))),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const saved = sinks.checkpoint.current!
      // The crashed epoch's parts were written (at least its errors or rejects), ahead of the checkpoint.
      const ahead = [...sinks.errors.keys(), ...sinks.rejected.keys(), ...sinks.windows.keys()].filter((e) => e > saved.epoch)
      assert.isTrue(ahead.length > 0, "the crash should leave parts newer than the checkpoint")

      sinks.beforeSave = () => {}
      yield* runAnalyzer(config).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 300, calls })))
      )
      assert.deepStrictEqual(calls, [undefined, saved.position])
      assertSameOutputs(sinks, yield* uninterrupted(config, 300))
    }))

  it.effect("a checkpoint made with other settings is refused with CheckpointMismatch naming the difference", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const sinks = new Sinks()
      const small = new TextEncoder().encode(line("2025-05-30T18:54:40.000Z", "1.1.1.1", "/resource/1", 404) + "\n")
      yield* runAnalyzer(configFor("json")).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(small, { chunkBytes: 64 })))
      )
      const before = structuredClone(sinks.checkpoint.current)
      const rowsBefore = sinks.rows().length

      const other = configFor("json", {
        checkpointSettings: { format: "json", window: "60000ms", watermark: "10000ms", threshold: 100 }
      })
      const error = yield* runAnalyzer({ ...other, analysis: { ...other.analysis, windowMs: 60 * SECOND } }).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(small, { chunkBytes: 64 }))),
        Effect.flip
      )
      assert.instanceOf(error, CheckpointMismatch)
      assert.include(error.message, "--window")
      assert.include(error.message, "30000ms")
      assert.include(error.message, "60000ms")
      assert.include(error.message, "--clean")
      assert.notInclude(error.message, "--threshold")
      assert.deepStrictEqual(sinks.checkpoint.current, before)
      assert.strictEqual(sinks.rows().length, rowsBefore)

      const otherThreshold = configFor("json", {
        checkpointSettings: { format: "json", window: "30000ms", watermark: "10000ms", threshold: 5 }
      })
      const error2 = yield* runAnalyzer(otherThreshold).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(small, { chunkBytes: 64 }))),
        Effect.flip
      )
      assert.include(error2.message, "--threshold")
      assert.notInclude(error2.message, "--window")
    }))

  it.effect("a replay already read to its end is not analysed twice", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const sinks = new Sinks()
      const calls: Array<SourcePosition | undefined> = []
      for (let run = 0; run < 2; run++) {
        yield* runAnalyzer(configFor("json")).pipe(
          Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 4096, calls })))
        )
      }
      assert.strictEqual(calls.length, 1)
      assert.deepStrictEqual(sinks.errorLines(), referenceFor(bytes, "json").errors)
      assert.strictEqual(sinks.alerts().length, 1)
    }))
})

// -- what the analyzer shows of itself ----------------------------------------------------

describe("runAnalyzer: views, alert states and destinations", () => {
  it.effect("publishes views with the model's counters, prints each alert, and tells destinations firing then resolved", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const bytes = fixture("mixed.jsonl")
      const expected = referenceFor(bytes, "json")
      const views: Array<AnalyzerView> = []
      const changes: Array<StateChange> = []
      yield* runAnalyzer(configFor("json")).pipe(
        Effect.provide(Layer.mergeAll(
          new Sinks().layer(),
          byteSource(bytes, { chunkBytes: 97 }),
          Telemetry.layerMemory(views),
          AlertDestinations.layerMemory(changes)
        ))
      )
      const last = views.at(-1)!
      assert.deepStrictEqual(last.counters, expected.counters)
      const errorsByStatus: Record<string, number> = {}
      for (const l of expected.errors) {
        const status = JSON.parse(l).status
        errorsByStatus[status] = (errorsByStatus[status] ?? 0) + 1
      }
      assert.deepStrictEqual(last.errorsByStatus, errorsByStatus)
      assert.deepStrictEqual(last.openWindows, [])
      assert.deepStrictEqual(last.readiness, { ready: false, reason: "the analysis has finished; the process is stopping" })

      const printed = (yield* TestConsole.logLines).filter((l): l is string => typeof l === "string" && l.startsWith("ALERTE"))
      assert.deepStrictEqual(
        printed,
        expected.alerts.map((a) =>
          `ALERTE : Nombre d'erreurs élevé — window ${a.window_start} → ${a.window_end}, status ${a.status}: ` +
          `${a.error_count} errors from ~${a.unique_ips} IPs`)
      )

      // One alert (404, 18:52:00); the replay's end closes the windows after it, so 404 resolves.
      assert.deepStrictEqual(expected.alerts.map((a) => [a.status, a.window_start]), [[404, "2025-05-30T18:52:00.000Z"]])
      assert.deepStrictEqual(changes.map((c) => [c.state.status, c.state.state, c.state.latest.window_start]), [
        [404, "firing", "2025-05-30T18:52:00.000Z"],
        [404, "resolved", "2025-05-30T18:52:00.000Z"]
      ])
      const row = expected.rows.find((r) => r.status === 404 && r.window_start === "2025-05-30T18:52:00.000Z")!
      assert.deepStrictEqual(changes[0]!.urls, row.urls)
    }))

  it.effect("after a restart, a status whose open window had alerted is firing again, and destinations are told", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const start = Date.parse("2025-05-30T18:52:30.000Z")
      const text = Array.from({ length: 150 }, (_, i) =>
        line(new Date(start + 1000).toISOString(), `10.0.0.${i}`, "/resource/1", 503)).join("\n") + "\n"
      const bytes = new TextEncoder().encode(text)
      const sinks = new Sinks()
      const first: Array<StateChange> = []
      // The source is lost after the last line: the alert's epoch is in the checkpoint, its window still open.
      yield* runAnalyzer(configFor("json")).pipe(
        Effect.provide(Layer.mergeAll(
          sinks.layer(),
          byteSource(bytes, { chunkBytes: 1000, failAt: bytes.length }),
          AlertDestinations.layerMemory(first)
        )),
        Effect.flip
      )
      assert.deepStrictEqual(first.map((c) => [c.state.status, c.state.state]), [[503, "firing"]])

      const second: Array<StateChange> = []
      yield* runAnalyzer(configFor("json")).pipe(
        Effect.provide(Layer.mergeAll(sinks.layer(), byteSource(bytes, { chunkBytes: 1000 }), AlertDestinations.layerMemory(second)))
      )
      assert.deepStrictEqual(second.map((c) => [c.state.status, c.state.state, c.state.latest.window_start]), [
        [503, "firing", "2025-05-30T18:52:30.000Z"]
      ])
      assert.strictEqual(sinks.alerts().length, 1)
    }))
})
