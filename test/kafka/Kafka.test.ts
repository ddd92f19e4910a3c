/**
 * Integration tests of the Kafka layers against a real broker (see broker.ts).
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import type { Alert } from "../../src/domain/Alert.ts"
import { ALERT_MESSAGE } from "../../src/domain/Alert.ts"
import { AlertPublisher } from "../../src/sinks/AlertPublisher.ts"
import {
  ensureTopics,
  KafkaAlertPublisher,
  KafkaLineSink,
  KafkaLineSource,
  type KafkaSettings,
  kafkaSettingsFromEnv
} from "../../src/transport/Kafka.ts"
import { setKafkaNoticeWriter } from "../../src/transport/KafkaClient.ts"
import { LineSink } from "../../src/transport/LineSink.ts"
import type { SourcePosition } from "../../src/domain/SourcePosition.ts"
import { type LineBatch, LineSource } from "../../src/transport/LineSource.ts"
import { collect, plainKafka, randomSuffix, sleep, testBrokers } from "./broker.ts"
import { textLines } from "../support/lines.ts"

let brokers: Array<string> = []
let settings: KafkaSettings
const notices: Array<string> = []

beforeAll(async () => {
  brokers = await testBrokers()
  settings = kafkaSettingsFromEnv(brokers, {})
  setKafkaNoticeWriter((line) => {
    notices.push(line)
    process.stderr.write(`[kafka notice] ${line}\n`)
  })
}, 600_000)

const highWatermarks = async (topic: string): Promise<Record<string, number>> => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    const out: Record<string, number> = {}
    for (const o of offsets.sort((a, b) => a.partition - b.partition)) out[String(o.partition)] = Number(o.high)
    return out
  } finally {
    await admin.disconnect()
  }
}

const committedOffsets = async (groupId: string, topic: string) => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const out: Record<string, { offset: number; metadata: string | null }> = {}
    for (const p of result?.partitions ?? []) {
      if (Number(p.offset) >= 0) out[String(p.partition)] = { offset: Number(p.offset), metadata: p.metadata }
    }
    return out
  } finally {
    await admin.disconnect()
  }
}

describe("KafkaLineSink", () => {
  it("writes every line exactly once, over all partitions", async () => {
    const topic = `loglens-test-sink-${randomSuffix()}`
    const runtime = ManagedRuntime.make(KafkaLineSink.layer({ settings, topic, partitions: 3 }))
    const expected: Array<string> = []
    try {
      await runtime.runPromise(Effect.gen(function*() {
        const sink = yield* LineSink
        assert.strictEqual(sink.description, `kafka:${topic}`)
        for (let w = 0; w < 5; w++) {
          const lines = Array.from({ length: 1000 + w }, (_, i) => `{"w":${w},"i":${i}}`)
          expected.push(...lines)
          yield* sink.write(lines)
        }
        yield* sink.write([])
      }))
    } finally {
      await runtime.dispose()
    }
    const reader = await collect(brokers, topic, { readCommitted: true })
    try {
      await reader.waitFor(expected.length)
      await sleep(500)
      const got = reader.messages.map((m) => m.value!.toString("utf8"))
      assert.strictEqual(got.length, expected.length)
      assert.deepStrictEqual([...got].sort(), [...expected].sort())
      const perPartition = new Map<number, number>()
      for (const m of reader.messages) perPartition.set(m.partition, (perPartition.get(m.partition) ?? 0) + 1)
      assert.deepStrictEqual([...perPartition.keys()].sort(), [0, 1, 2])
      for (const n of perPartition.values()) assert.isAtLeast(n, Math.floor(expected.length / 3) - 1)
      // Without keys, lines keep their write order within each partition.
      const order = reader.messages.map((m) => [m.partition, m.offset, m.value!.toString("utf8")] as const)
        .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      for (const p of [0, 1, 2]) {
        const inP = order.filter((o) => o[0] === p).map((o) => expected.indexOf(o[2]))
        assert.deepStrictEqual(inP, [...inP].sort((a, b) => a - b))
      }
    } finally {
      await reader.stop()
    }
  })
})

describe("KafkaLineSource", () => {
  /** Runs `batches(from)` in the background, gathering everything it emits. */
  const startReading = (
    runtime: ManagedRuntime.ManagedRuntime<LineSource, unknown>,
    from: SourcePosition | undefined
  ) => {
    const batches: Array<LineBatch> = []
    const fiber = runtime.runFork(
      Effect.gen(function*() {
        const source = yield* LineSource
        yield* source.batches(from).pipe(Stream.runForEach((b) => Effect.sync(() => void batches.push(b))))
      })
    )
    const lines = () => batches.flatMap((b) => textLines(b.lines))
    const rejected = () => batches.flatMap((b) => b.rejected)
    const waitForLines = async (n: number, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      while (lines().length + rejected().length < n && Date.now() < deadline) await sleep(50)
    }
    const stop = () => runtime.runPromise(Fiber.interrupt(fiber))
    return { batches, lines, rejected, waitForLines, stop }
  }

  it("reads lines, rejects bad values, reports positions, and resumes from a position", async () => {
    const topic = `loglens-test-source-${randomSuffix()}`
    const groupId = `loglens-test-group-${randomSuffix()}`
    await Effect.runPromise(ensureTopics(settings, [topic], 3))
    const producer = plainKafka(brokers).producer()
    await producer.connect()
    const first = Array.from({ length: 30 }, (_, i) => `first-${i}`)
    await producer.send({
      topic,
      messages: [
        ...first.slice(0, 27).map((value, i) => ({ value, partition: i % 3 })),
        { value: Buffer.from([0x66, 0xff, 0xfe, 0x41]), partition: 0 }, // not UTF-8
        { value: "x".repeat(500), partition: 1 }, // longer than maxLineBytes
        { value: null, partition: 2 }, // tombstone: skipped
        { value: `${first[27]}\n${first[28]}\n${first[29]}\n`, partition: 2 } // several lines in one message
      ]
    })
    const layer = KafkaLineSource.layer({
      settings,
      topic,
      groupId,
      startingOffsets: "earliest",
      partitions: 3,
      maxLineBytes: 100
    })

    // 1. From the start.
    let position: SourcePosition
    {
      const runtime = ManagedRuntime.make(layer)
      try {
        const source = await runtime.runPromise(Effect.gen(function*() {
          return yield* LineSource
        }))
        assert.strictEqual(source.identity, `kafka:${topic}`)
        assert.strictEqual(source.description, `kafka:${topic}`)
        assert.isTrue(source.live)
        const reading = startReading(runtime, undefined)
        await reading.waitForLines(32)
        await sleep(1000)
        await reading.stop()
        assert.deepStrictEqual([...reading.lines()].sort(), [...first].sort())
        const reasons = reading.rejected().map((r) => r.reason).sort()
        assert.strictEqual(reasons.length, 2)
        assert.match(reasons[0]!, /longer than --max-line-bytes \(100 bytes\); it was 500 bytes/)
        assert.match(reasons[1]!, /not valid UTF-8/)
        const tooLong = reading.rejected().find((r) => r.reason.includes("longer"))!
        assert.strictEqual(tooLong.line, "x".repeat(500))
        // Positions only grow, and the last one is the end of every partition.
        position = reading.batches[reading.batches.length - 1]!.position
        assert.deepStrictEqual(position, await highWatermarks(topic))
        assert.deepStrictEqual(position, { "0": 10, "1": 10, "2": 11 })
        // Every batch's position covers every partition seen before it.
        let seen = 0
        for (const b of reading.batches) {
          assert.isAtLeast(Object.keys(b.position).length, seen)
          seen = Object.keys(b.position).length
        }
      } finally {
        await runtime.dispose()
      }
    }

    // 2. More lines; resuming from the position yields exactly those (no commit was made, so only the seek does it).
    const second = Array.from({ length: 15 }, (_, i) => `second-${i}`)
    await producer.send({ topic, messages: second.map((value, i) => ({ value, partition: i % 3 })) })
    {
      const runtime = ManagedRuntime.make(layer)
      try {
        const reading = startReading(runtime, position)
        await reading.waitForLines(15)
        await sleep(1000)
        assert.deepStrictEqual([...reading.lines()].sort(), [...second].sort())
        assert.strictEqual(reading.rejected().length, 0)
        const end = reading.batches[reading.batches.length - 1]!.position
        assert.deepStrictEqual(end, await highWatermarks(topic))
        // commit() stores the group's offsets, marked with the epoch they close: the alert publisher
        // reads that marker as "published", whichever of the two commits the group applied last.
        await runtime.runPromise(Effect.gen(function*() {
          yield* (yield* LineSource).commit(end, 7)
        }))
        const committed = await committedOffsets(groupId, topic)
        assert.deepStrictEqual(
          Object.fromEntries(Object.entries(committed).map(([p, c]) => [p, c.offset])),
          end
        )
        for (const c of Object.values(committed)) assert.strictEqual(c.metadata, "loglens-epoch=7")
        await reading.stop()
        position = end
      } finally {
        await runtime.dispose()
      }
    }

    // 3. Without a position, the group's committed offsets apply; a checkpoint past the end of the
    //    log (topic recreated) is reported in plain words and falls back to --starting-offsets.
    const third = Array.from({ length: 6 }, (_, i) => `third-${i}`)
    await producer.send({ topic, messages: third.map((value, i) => ({ value, partition: i % 3 })) })
    {
      const runtime = ManagedRuntime.make(layer)
      try {
        const reading = startReading(runtime, undefined)
        await reading.waitForLines(6)
        await sleep(800)
        assert.deepStrictEqual([...reading.lines()].sort(), [...third].sort())
        await reading.stop()
        notices.length = 0
        const ahead = { ...(await highWatermarks(topic)), "0": 5000 }
        const again = startReading(runtime, ahead)
        // Partition 0 restarts from its earliest offset: 9 + 5 + 2 lines and 1 rejected.
        await again.waitForLines(17)
        await sleep(800)
        await again.stop()
        const p0 = [
          ...first.filter((_, i) => i < 27 && i % 3 === 0),
          ...second.filter((_, i) => i % 3 === 0),
          "third-0",
          "third-3"
        ]
        assert.deepStrictEqual([...again.lines()].sort(), [...p0].sort())
        assert.isTrue(
          notices.some((n) =>
            n.includes(`checkpoint offset 5000 for ${topic}[0] is past the end of the log (17)`) &&
            n.includes("continuing from the earliest offset (0) per --starting-offsets")
          ),
          notices.join("\n")
        )
      } finally {
        await runtime.dispose()
      }
    }
    await producer.disconnect()
  })
})

describe("KafkaAlertPublisher", () => {
  const alert = (start: string, end: string, status: number, count: number): Alert => ({
    window_start: start,
    window_end: end,
    status,
    error_count: count,
    unique_ips: 7,
    alert: ALERT_MESSAGE,
    alert_timestamp: "2025-05-30T18:53:05.123Z"
  })
  const a1 = alert("2025-05-30T18:52:30.000Z", "2025-05-30T18:53:00.000Z", 404, 150)
  const a2 = alert("2025-05-30T18:52:30.000Z", "2025-05-30T18:53:00.000Z", 500, 120)
  const a3 = alert("2025-05-30T18:53:00.000Z", "2025-05-30T18:53:30.000Z", 404, 101)

  it("publishes each epoch's alerts and offsets once, in one transaction", async () => {
    const suffix = randomSuffix()
    const sourceTopic = `loglens-test-logs-${suffix}`
    const topic = `loglens-test-alerts-${suffix}`
    const groupId = `loglens-test-group-${suffix}`
    await Effect.runPromise(ensureTopics(settings, [sourceTopic, topic], 3))
    const runtime = ManagedRuntime.make(KafkaAlertPublisher.layer({ settings, topic, groupId, sourceTopic }))
    const reader = await collect(brokers, topic, { readCommitted: true })
    try {
      const publisher = await runtime.runPromise(Effect.gen(function*() {
        return yield* AlertPublisher
      }))
      assert.strictEqual(publisher.description, `kafka:${topic}`)
      const p1 = { "0": 5, "1": 3 }
      await runtime.runPromise(publisher.publish(1, [a1, a2], p1))
      assert.strictEqual(await reader.waitFor(2), 2)
      const byKey = new Map(reader.messages.map((m) => [m.key, JSON.parse(m.value!.toString("utf8"))]))
      assert.deepStrictEqual([...byKey.keys()].sort(), [
        "2025-05-30T18:52:30.000Z|404",
        "2025-05-30T18:52:30.000Z|500"
      ])
      assert.deepStrictEqual(byKey.get("2025-05-30T18:52:30.000Z|404"), a1)
      assert.deepStrictEqual(byKey.get("2025-05-30T18:52:30.000Z|500"), a2)
      assert.deepStrictEqual(await committedOffsets(groupId, sourceTopic), {
        "0": { offset: 5, metadata: "loglens-epoch=1" },
        "1": { offset: 3, metadata: "loglens-epoch=1" }
      })

      // The epoch's transaction committed: recovering it publishes nothing.
      await runtime.runPromise(publisher.recover(1, [a1, a2], p1))
      // An epoch without alerts only moves the offsets.
      const p2 = { "0": 6, "1": 3, "2": 1 }
      await runtime.runPromise(publisher.publish(2, [], p2))
      assert.deepStrictEqual(await committedOffsets(groupId, sourceTopic), {
        "0": { offset: 6, metadata: "loglens-epoch=2" },
        "1": { offset: 3, metadata: "loglens-epoch=2" },
        "2": { offset: 1, metadata: "loglens-epoch=2" }
      })
      // A crash before epoch 3's publish: recover publishes it.
      const p3 = { "0": 8, "1": 3, "2": 1 }
      await runtime.runPromise(publisher.recover(3, [a3], p3))
      assert.strictEqual(await reader.waitFor(3), 3)
      // And recovering it again (a second crash) does not.
      await runtime.runPromise(publisher.recover(3, [a3], p3))
      await sleep(1500)
      assert.strictEqual(reader.messages.length, 3)
      assert.strictEqual(reader.messages[2]!.key, "2025-05-30T18:53:00.000Z|404")
      assert.deepStrictEqual(JSON.parse(reader.messages[2]!.value!.toString("utf8")), a3)
    } finally {
      await reader.stop()
      await runtime.dispose()
    }
  })

  it("fences a zombie: an abandoned transaction is aborted, read_committed readers never see it", async () => {
    const suffix = randomSuffix()
    const sourceTopic = `loglens-test-logs-${suffix}`
    const topic = `loglens-test-alerts-${suffix}`
    const groupId = `loglens-test-group-${suffix}`
    await Effect.runPromise(ensureTopics(settings, [sourceTopic, topic], 3))

    // A previous analyzer process: opens a transaction, sends, and dies without committing.
    const zombie = plainKafka(brokers).producer({
      transactionalId: `loglens-${groupId}`,
      idempotent: true,
      maxInFlightRequests: 1
    })
    await zombie.connect()
    const zombieTx = await zombie.transaction()
    await retrying(() => zombieTx.send({ topic, messages: [{ key: "zombie", value: "must never be seen" }] }))
    await zombieTx.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: sourceTopic, partitions: [{ partition: 0, offset: "99" }] }]
    })

    const reader = await collect(brokers, topic, { readCommitted: true })
    const uncommittedReader = await collect(brokers, topic, { readCommitted: false })
    const runtime = ManagedRuntime.make(KafkaAlertPublisher.layer({ settings, topic, groupId, sourceTopic }))
    try {
      assert.strictEqual(await uncommittedReader.waitFor(1), 1) // the zombie's message is in the log
      const publisher = await runtime.runPromise(Effect.gen(function*() {
        return yield* AlertPublisher
      }))
      // The new process recovers its last checkpoint's epoch: it was not published (the zombie never committed).
      await runtime.runPromise(publisher.recover(4, [a1], { "0": 10 }))
      assert.strictEqual(await reader.waitFor(1), 1)
      await sleep(1500)
      assert.strictEqual(reader.messages.length, 1)
      assert.strictEqual(reader.messages[0]!.key, alertKeyOf(a1))
      assert.deepStrictEqual(await committedOffsets(groupId, sourceTopic), {
        "0": { offset: 10, metadata: "loglens-epoch=4" }
      })
      // The zombie is fenced: its commit fails and changes nothing.
      let zombieError: unknown
      await zombieTx.commit().catch((e) => {
        zombieError = e
      })
      assert.isDefined(zombieError)
      await sleep(500)
      assert.strictEqual(reader.messages.length, 1)
      assert.strictEqual((await committedOffsets(groupId, sourceTopic))["0"]!.offset, 10)
    } finally {
      await zombie.disconnect().catch(() => undefined)
      await reader.stop()
      await uncommittedReader.stop()
      await runtime.dispose()
    }
  })
})

/** The topic was just created: metadata may take a moment to reach every client. */
const retrying = async <A>(f: () => Promise<A>, attempts = 20): Promise<A> => {
  for (let i = 1;; i++) {
    try {
      return await f()
    } catch (e) {
      if (i >= attempts) throw e
      await sleep(250)
    }
  }
}

const alertKeyOf = (a: Alert) => `${a.window_start}|${a.status}`
