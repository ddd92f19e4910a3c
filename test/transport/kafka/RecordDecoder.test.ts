/**
 * loglens's record decoder against kafkajs 2.2.4's own, on records that
 * kafkajs's encoder wrote: offsets and timestamps on both sides of 2^53,
 * negative ones, long timestamp deltas, null and empty keys and values,
 * headers, both timestamp types, and records cut short. The two must return
 * the same record (or throw the same error) and leave the decoder at the same
 * place. And kafkajs's batch decoder must get loglens's.
 */
import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import { createRequire } from "node:module"
import { kafkajsOriginal } from "../../../src/transport/kafka/KafkajsModules.ts"
import { decodeRecord, RECORD_DECODER } from "../../../src/transport/kafka/RecordDecoder.ts"

const require = createRequire(import.meta.url)

interface KafkajsDecoder {
  buffer: Buffer
  offset: number
  readVarIntBytes: () => Buffer | null
}
const Decoder = require("kafkajs/src/protocol/decoder.js") as new(buffer: Buffer) => KafkajsDecoder
const Long = require("kafkajs/src/utils/long.js") as { fromValue: (v: bigint) => unknown }
const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as (record: object) => { buffer: Buffer }
const kafkajsDecodeRecord = kafkajsOriginal<(decoder: KafkajsDecoder, context: object) => unknown>(RECORD_DECODER)

const outcome = (decode: (decoder: KafkajsDecoder, context: object) => unknown, body: Buffer, context: object) => {
  const decoder = new Decoder(body)
  try {
    return { record: decode(decoder, context), offset: decoder.offset }
  } catch (e) {
    return { error: String(e), offset: decoder.offset }
  }
}

// Mostly what brokers send (small offsets, recent times, short deltas, no headers), and also values
// around 0, around 2^53 (where numbers stop being exact) and at the ends of the int64 range.
const int64 = fc.oneof(
  { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 41n }), weight: 4 },
  { arbitrary: fc.bigInt({ min: -5n, max: 5n }), weight: 1 },
  { arbitrary: fc.bigInt({ min: 2n ** 53n - 3000n, max: 2n ** 53n + 3000n }), weight: 1 },
  { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 1 }
)
const delta = fc.oneof(
  { arbitrary: fc.bigInt({ min: -3000n, max: 3000n }), weight: 4 },
  { arbitrary: fc.bigInt({ min: -(2n ** 50n), max: 2n ** 50n }), weight: 1 },
  { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 1 }
)
const bytes = fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), { nil: null })
const headers = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  {
    arbitrary: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 5 }),
      fc.oneof(fc.string({ maxLength: 5 }), fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 2 })),
      { maxKeys: 3 }
    ),
    weight: 1
  }
)
const record = fc.record({
  offsetDelta: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  timestampDelta: delta,
  key: bytes,
  value: bytes,
  headers
})
const context = fc.record({
  firstOffset: int64.map(String),
  firstTimestamp: fc.oneof({ arbitrary: fc.constant("-1"), weight: 1 }, { arbitrary: int64.map(String), weight: 4 }),
  maxTimestamp: int64.map(String),
  timestampType: fc.constantFrom(0, 1),
  isControlBatch: fc.option(fc.boolean(), { nil: undefined }),
  inTransaction: fc.boolean(),
  producerId: fc.constant("7"),
  magicByte: fc.constant(2)
})

const bodyOf = (r: typeof record extends fc.Arbitrary<infer A> ? A : never): Buffer => {
  const { timestampDelta, headers: h, ...rest } = r
  const encoded = encodeRecord({ ...rest, timestampDelta: Long.fromValue(timestampDelta), ...(h === undefined ? {} : { headers: h }) })
  // The record's length comes first; kafkajs's batch decoder reads it and hands on the rest.
  return new Decoder(encoded.buffer).readVarIntBytes()!
}

describe("kafkajs record decoder replacement", () => {
  it("returns what kafkajs's decoder returns, for any record and batch", () => {
    fc.assert(
      fc.property(record, context, (r, c) => {
        const body = bodyOf(r)
        expect(outcome(decodeRecord as never, body, c)).toEqual(outcome(kafkajsDecodeRecord, body, c))
      }),
      { numRuns: 3000 }
    )
  })

  it("decodes the records of one batch after another with each batch's own offsets", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(record, context), { minLength: 2, maxLength: 6 }), (pairs) => {
        const bodies = pairs.map(([r, c]) => [bodyOf(r), c] as const)
        // Interleaved batches: the one-batch memo must not carry one batch's offsets into another.
        for (const round of [0, 1]) {
          for (const [body, c] of round === 0 ? bodies : [...bodies].reverse()) {
            expect(outcome(decodeRecord as never, body, c)).toEqual(outcome(kafkajsDecodeRecord, body, c))
          }
        }
      }),
      { numRuns: 300 }
    )
  })

  it("does the same as kafkajs with a record cut short", () => {
    fc.assert(
      fc.property(record, context, fc.nat(), (r, c, cut) => {
        const body = bodyOf(r)
        const short = body.subarray(0, cut % (body.length + 1))
        expect(outcome(decodeRecord as never, short, c)).toEqual(outcome(kafkajsDecodeRecord, short, c))
      }),
      { numRuns: 2000 }
    )
  })

  it("decodes a generator-shaped record to the offset and timestamp its batch gives", () => {
    // A generator-shaped record: small deltas, no key, no headers, a recent offset and time.
    const body = bodyOf({ offsetDelta: 12, timestampDelta: 3n, key: null, value: Buffer.from("{}"), headers: undefined })
    const c = { firstOffset: "1234567", firstTimestamp: "1796180000000", timestampType: 0, maxTimestamp: "1796180000009", magicByte: 2 }
    expect(outcome(decodeRecord as never, body, c)).toEqual({
      record: {
        magicByte: 2,
        attributes: 0,
        timestamp: "1796180000003",
        offset: "1234579",
        key: null,
        value: Buffer.from("{}"),
        headers: {},
        isControlRecord: false,
        batchContext: c
      },
      offset: body.length
    })
  })

  it("takes a timestamp delta past 2^53 as kafkajs does, when the sum is below 2^53 again", () => {
    // 2^53 + 2^52 + 1 is not a double (8 varint bytes): only an exact sum gives 2^52 + 2.
    const body = bodyOf({ offsetDelta: 0, timestampDelta: 2n ** 53n + 2n ** 52n + 1n, key: null, value: null, headers: undefined })
    const c = { firstOffset: "0", firstTimestamp: String(-(2n ** 53n - 1n)), timestampType: 0, maxTimestamp: "0", magicByte: 2 }
    expect(outcome(decodeRecord as never, body, c)).toMatchObject({ record: { timestamp: String(2n ** 52n + 2n) } })
  })

  it("is the decoder kafkajs's batch decoder takes", () => {
    expect(require.cache[require.resolve(RECORD_DECODER)]?.exports).toBe(decodeRecord)
  })
})
