/**
 * The generator's Kafka sink against a real broker (see broker.ts). The
 * analyzer's side of Kafka is tested through the CLI (Production.test.ts,
 * Partitions.test.ts, CrashRecovery.test.ts).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { type KafkaSettings, kafkaSettingsFromEnv } from "../../src/transport/kafka/Settings.ts"
import { KafkaLineSink } from "../../src/transport/kafka/Sink.ts"
import { LineSink } from "../../src/transport/LineSink.ts"
import { collect, madeTopic, randomSuffix, removeLeftovers, sleep, testBrokers } from "./broker.ts"

let brokers: Array<string> = []
let settings: KafkaSettings

beforeAll(async () => {
  brokers = await testBrokers()
  settings = kafkaSettingsFromEnv(brokers, {})
}, 600_000)

afterAll(() => removeLeftovers(brokers), 60_000)

describe("KafkaLineSink", () => {
  it("writes every line exactly once, over all partitions", async () => {
    const topic = madeTopic(`loglens-test-sink-${randomSuffix()}`)
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
