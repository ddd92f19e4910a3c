/**
 * kafkajs 2.2.4's decoder of one record of a record batch, with the same
 * output in less time; `Kafkajs.ts` puts it in place before kafkajs loads.
 *
 * kafkajs works out every record's offset and timestamp with its BigInt-backed
 * `Long`: the batch's first offset and first timestamp parsed from strings, a
 * variable-length delta decoded a byte at a time into new `Long`s, an addition
 * and a string conversion, for each of the two. In production mode that was
 * about a fifth of stage 1's time and much of its garbage (`npm run bench`,
 * figure 6). Below 2^53 the same sums are exact as numbers, so this decoder
 * adds numbers and converts the batch's two strings once per batch. A record
 * it does not take whole (a value at or past 2^53, a delta longer than seven
 * bytes, headers, bytes missing) goes to kafkajs's own decoder, from the start,
 * so the result is always kafkajs's: `test/transport/kafka/RecordDecoder.test.ts`
 * compares the two on encoded records.
 */
import { kafkajsOriginal } from "./KafkajsModules.ts"

export const RECORD_DECODER = "kafkajs/src/protocol/recordBatch/record/v0/decoder.js"

/** What kafkajs's record decoder reads from: its `Decoder`, positioned at the record. */
interface RecordBytes {
  readonly buffer: Buffer
  offset: number
}

/** The fields of kafkajs's batch context that a record's decoding reads. */
interface BatchContext {
  readonly firstOffset?: string
  readonly firstTimestamp?: string
  readonly magicByte?: number
  readonly isControlBatch?: boolean
  readonly timestampType?: number
  readonly maxTimestamp?: string
}

type DecodeRecord = (decoder: RecordBytes, batchContext?: BatchContext) => unknown

const kafkajsDecodeRecord = kafkajsOriginal<DecodeRecord>(RECORD_DECODER)
const { LOG_APPEND_TIME } = kafkajsOriginal<{ LOG_APPEND_TIME: number }>("kafkajs/src/protocol/timestampTypes.js")

/** `text` as a number when that is exact and reads back as `text`; NaN otherwise. */
export const exactInteger = (text: string | undefined): number => {
  if (typeof text !== "string") return NaN
  const n = Number(text)
  return Number.isSafeInteger(n) && String(n) === text ? n : NaN
}

// The batch of the last record: a batch's records are decoded one after another, so its first
// offset and first timestamp are converted once.
let lastContext: BatchContext | undefined
let firstOffset = NaN
let firstTimestamp = NaN

export const decodeRecord: DecodeRecord = (decoder, batchContext = {}) => {
  if (batchContext !== lastContext) {
    lastContext = batchContext
    firstOffset = exactInteger(batchContext.firstOffset)
    firstTimestamp = exactInteger(batchContext.firstTimestamp)
  }
  const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext
  const buffer = decoder.buffer
  const start = decoder.offset
  const end = buffer.length
  if (start >= end || Number.isNaN(firstOffset)) return kafkajsDecodeRecord(decoder, batchContext)
  let at = start
  const attributes = buffer.readInt8(at++)

  // The timestamp delta: a zig-zag varlong, taken here when it has at most 7 bytes (49 bits).
  let raw = 0
  let scale = 1
  let byte = 0
  let bytes = 0
  do {
    byte = buffer[at++]!
    raw += (byte & 0x7f) * scale
    scale *= 128
  } while (byte >= 0x80 && ++bytes < 7)
  if (byte >= 0x80 || at > end) return fallback(decoder, start, batchContext)
  const timestampDelta = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
  let timestamp: string | undefined
  if (timestampType === LOG_APPEND_TIME && maxTimestamp) timestamp = maxTimestamp
  else {
    const sum = firstTimestamp + timestampDelta
    if (!Number.isSafeInteger(sum)) return fallback(decoder, start, batchContext)
    timestamp = String(sum)
  }

  // The offset delta, the key's and the value's lengths, the header count: kafkajs's varints.
  at = readVarInt(buffer, at)
  const offsetSum = firstOffset + varInt
  if (!Number.isSafeInteger(offsetSum)) return fallback(decoder, start, batchContext)
  at = readVarInt(buffer, at)
  const keyLength = varInt
  if (keyLength < -1) return fallback(decoder, start, batchContext)
  const key = keyLength === -1 ? null : buffer.subarray(at, at + keyLength)
  if (keyLength > 0) at += keyLength
  at = readVarInt(buffer, at)
  const valueLength = varInt
  if (valueLength < -1) return fallback(decoder, start, batchContext)
  const value = valueLength === -1 ? null : buffer.subarray(at, at + valueLength)
  if (valueLength > 0) at += valueLength
  at = readVarInt(buffer, at)
  if ((varInt !== 0 && varInt !== -1) || at > end) return fallback(decoder, start, batchContext)
  decoder.offset = at

  return {
    magicByte,
    attributes,
    timestamp,
    offset: String(offsetSum),
    key,
    value,
    headers: {},
    isControlRecord: isControlBatch,
    batchContext
  }
}

// The value of the last `readVarInt`, which returns where it ended (no object per varint).
let varInt = 0

/** kafkajs's `Decoder.readVarInt` at `at`, quirks included: past the end, a missing byte reads as 0. */
const readVarInt = (buffer: Buffer, at: number): number => {
  let result = 0
  let shift = 0
  let byte = 0
  do {
    byte = buffer[at++]!
    result += (byte & 0x7f) << shift
    shift += 7
  } while (byte >= 0x80)
  varInt = (result >>> 1) ^ -(result & 1)
  return at
}

const fallback = (decoder: RecordBytes, start: number, batchContext: BatchContext): unknown => {
  decoder.offset = start
  return kafkajsDecodeRecord(decoder, batchContext)
}
