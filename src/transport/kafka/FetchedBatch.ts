/**
 * kafkajs 2.2.4's `Batch` (the messages of one partition from one fetch) with
 * its offset filter done in numbers; `Kafkajs.ts` puts it in place before
 * kafkajs loads.
 *
 * kafkajs keeps only the messages at or past the offset it asked for, and
 * checks that with a BigInt-backed `Long` made from every message's offset
 * string: after the record decoder (`RecordDecoder.ts`), the largest cost of
 * kafkajs per message. An offset as kafkajs's decoders write it (a decimal
 * string) compares with a fetch offset below 2^53 exactly as a number: the
 * rounding of larger offsets keeps them at or above 2^53. Any other fetch
 * offset takes kafkajs's comparison. Everything else is kafkajs's: the
 * constructor below is its own, and the methods are its class's.
 */
import { kafkajsOriginal } from "./KafkajsModules.ts"
import { filterAbortedMessages } from "./ReadCommitted.ts"
import { exactInteger } from "./RecordDecoder.ts"

export const BATCH = "kafkajs/src/consumer/batch.js"

interface Message {
  readonly offset: string
  readonly isControlRecord?: boolean
}
interface PartitionData {
  readonly partition: number
  readonly highWatermark: string
  readonly abortedTransactions?: ReadonlyArray<{ readonly producerId: string; readonly firstOffset: string }>
  readonly messages: ReadonlyArray<Message>
}
interface LongValue {
  gte: (other: LongValue) => boolean
}
type KafkajsBatch = new(topic: string, fetchedOffset: string, partitionData: PartitionData) => object

const Long = kafkajsOriginal<{ fromValue: (value: unknown) => LongValue }>("kafkajs/src/utils/long.js")

/** The messages at or past `fetchedOffset`, as kafkajs's `Batch` keeps them. */
export const messagesFrom = (messages: ReadonlyArray<Message>, fetchedOffset: unknown): Array<Message> => {
  const from = typeof fetchedOffset === "number" && Number.isSafeInteger(fetchedOffset)
    ? fetchedOffset
    : exactInteger(fetchedOffset as string)
  const longFrom = Number.isNaN(from) ? Long.fromValue(fetchedOffset) : undefined
  const kept: Array<Message> = []
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const keep = longFrom === undefined && typeof message.offset === "string"
      ? Number(message.offset) >= from
      : Long.fromValue(message.offset).gte(longFrom ?? Long.fromValue(from))
    if (keep) kept.push(message)
  }
  return kept
}

const KafkajsBatchClass = kafkajsOriginal<KafkajsBatch>(BATCH)

/** kafkajs's `Batch` constructor, with `messagesFrom` for its offset filter. */
export function FetchedBatch(
  this: Record<string, unknown>,
  topic: string,
  fetchedOffset: string,
  partitionData: PartitionData
): void {
  this.fetchedOffset = fetchedOffset
  const { abortedTransactions, messages } = partitionData
  this.topic = topic
  this.partition = partitionData.partition
  this.highWatermark = partitionData.highWatermark
  this.rawMessages = messages
  // Apparently fetch can return different offsets than the target offset provided to the fetch API (kafkajs).
  const withinOffset = messagesFrom(messages, fetchedOffset)
  this.messagesWithinOffset = withinOffset
  // Neither aborted messages nor control records reach the consumer.
  this.messages = filterAbortedMessages({ messages: withinOffset as never, ...(abortedTransactions === undefined ? {} : { abortedTransactions }) })
    .filter((message) => !message.isControlRecord)
}
FetchedBatch.prototype = KafkajsBatchClass.prototype
