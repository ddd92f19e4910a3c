/**
 * loglens's `Batch` against kafkajs 2.2.4's own class on the same fetched
 * messages: fetch offsets below, around and past 2^53, given as strings,
 * numbers or something kafkajs cannot read, messages before the fetch offset
 * (a compressed batch starts earlier), control records and aborted
 * transactions. Every field and method must agree, or both must throw the
 * same error. And kafkajs's consumer must build loglens's.
 */
import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import { createRequire } from "node:module"
import { BATCH, FetchedBatch } from "../../../src/transport/kafka/FetchedBatch.ts"
import { kafkajsOriginal } from "../../../src/transport/kafka/KafkajsModules.ts"

const require = createRequire(import.meta.url)

interface BatchLike {
  readonly [field: string]: unknown
  isEmpty(): boolean
  isEmptyIncludingFiltered(): boolean
  isEmptyDueToFiltering(): boolean
  isEmptyControlRecord(): boolean
  isEmptyDueToLogCompactedMessages(): boolean
  firstOffset(): string | null
  lastOffset(): string
  offsetLag(): string
  offsetLagLow(): string
}
type BatchClass = new(topic: string, fetchedOffset: unknown, data: object) => BatchLike
const KafkajsBatch = kafkajsOriginal<BatchClass>(BATCH)
const LoglensBatch = FetchedBatch as unknown as BatchClass

const observe = (Batch: BatchClass, fetchedOffset: unknown, data: object) => {
  try {
    const b = new Batch("t", fetchedOffset, data)
    return {
      fields: { ...b },
      isEmpty: b.isEmpty(),
      isEmptyIncludingFiltered: b.isEmptyIncludingFiltered(),
      isEmptyDueToFiltering: b.isEmptyDueToFiltering(),
      isEmptyControlRecord: b.isEmptyControlRecord(),
      isEmptyDueToLogCompactedMessages: b.isEmptyDueToLogCompactedMessages(),
      firstOffset: b.firstOffset(),
      lastOffset: b.lastOffset(),
      offsetLag: b.offsetLag(),
      offsetLagLow: b.offsetLagLow()
    }
  } catch (e) {
    return { error: String(e) }
  }
}

// Offsets in a run from `start`: the safe range, and just below and past 2^53.
const start = fc.oneof(
  { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 40n }), weight: 3 },
  { arbitrary: fc.bigInt({ min: 2n ** 53n - 20n, max: 2n ** 53n + 20n }), weight: 1 },
  { arbitrary: fc.bigInt({ min: 2n ** 62n, max: 2n ** 63n - 100n }), weight: 1 }
)
const message = (offset: bigint, producerId: number, control: boolean, key: Buffer | null) => ({
  offset: String(offset),
  key,
  value: Buffer.from("x"),
  isControlRecord: control,
  batchContext: { producerId: String(producerId), inTransaction: true }
})
const fetched = fc.record({
  start,
  kinds: fc.array(fc.tuple(fc.constantFrom(1, 2), fc.constantFrom("data", "data", "data", "abort", "commit")), { maxLength: 12 }),
  // Where the fetch asked to start, relative to the first message.
  fetchAt: fc.integer({ min: -3, max: 14 }),
  fetchAs: fc.constantFrom("string", "string", "number", "long", "bad"),
  aborted: fc.option(fc.array(fc.tuple(fc.constantFrom(1, 2), fc.integer({ min: -2, max: 12 })), { maxLength: 2 }), { nil: undefined })
})

describe("kafkajs Batch replacement", () => {
  it("agrees with kafkajs's Batch on every field and method", () => {
    fc.assert(
      fc.property(fetched, ({ start, kinds, fetchAt, fetchAs, aborted }) => {
        const messages = kinds.map(([producer, kind], i) =>
          message(start + BigInt(i), producer, kind !== "data", kind === "abort" ? Buffer.from([0, 0, 0, 0]) : kind === "commit" ? Buffer.from([0, 0, 0, 1]) : null)
        )
        const at = start + BigInt(fetchAt)
        const fetchedOffset = fetchAs === "string" ? String(at) : fetchAs === "number" ? Number(at) : fetchAs === "long" ? { value: at } : "x1"
        const data = {
          partition: 0,
          highWatermark: String(start + BigInt(kinds.length)),
          messages,
          ...(aborted === undefined ? {} : { abortedTransactions: aborted.map(([p, o]) => ({ producerId: String(p), firstOffset: String(start + BigInt(o)) })) })
        }
        expect(observe(LoglensBatch, fetchedOffset, data)).toEqual(observe(KafkajsBatch, fetchedOffset, data))
      }),
      { numRuns: 3000 }
    )
  })

  it("keeps the messages from the fetch offset on, here one past 2^53", () => {
    const base = 2n ** 53n - 2n
    const messages = [0n, 1n, 2n, 3n, 4n].map((d) => message(base + d, 1, false, null))
    const b = new LoglensBatch("t", String(base + 3n), { partition: 0, highWatermark: String(base + 5n), messages })
    expect((b.messages as Array<{ offset: string }>).map((m) => m.offset)).toEqual(["9007199254740993", "9007199254740994"])
  })

  it("is the Batch kafkajs's consumer builds", () => {
    expect(require.cache[require.resolve(BATCH)]?.exports).toBe(FetchedBatch)
  })
})
