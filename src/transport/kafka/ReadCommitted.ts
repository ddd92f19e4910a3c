/**
 * A fix for kafkajs 2.2.4's read_committed filter; `Kafkajs.ts` puts it in
 * place before kafkajs loads.
 *
 * kafkajs drops the messages of aborted transactions with the broker's list
 * of them (producer id, first offset), but it takes up at most one entry of
 * that list per message it looks at. When a fetch starts past the first
 * offsets of two aborted transactions of different producers, the second
 * producer's aborted messages get through to the consumer as if committed
 * (test/transport/kafka/ReadCommitted.test.ts shows it). Production mode's
 * internal topic is written by one transactional producer per input
 * partition, and a killed analyzer leaves one aborted transaction per
 * partition it owned, so partial counts would be merged twice. This filter
 * is the Java client's: every entry whose first offset is at or before the
 * message is taken up, in offset order, and an abort marker ends its
 * producer's.
 */
import { replaceKafkajsModule } from "./KafkajsModules.ts"

interface Message {
  readonly offset: string
  readonly key: Buffer | null
  readonly isControlRecord?: boolean
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean }
}
interface AbortedTransaction {
  readonly producerId: string
  readonly firstOffset: string
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0])
const isAbortMarker = (message: Message): boolean =>
  message.key !== null && message.key !== undefined && Buffer.from(message.key).equals(ABORT_MARKER_KEY)

/** The messages of `messages` that no aborted transaction holds. */
export const filterAbortedMessages = (
  { messages, abortedTransactions }: { messages: ReadonlyArray<Message>; abortedTransactions?: ReadonlyArray<AbortedTransaction> }
): Array<Message> => {
  if (abortedTransactions === undefined || abortedTransactions.length === 0) return [...messages]
  const pending = [...abortedTransactions].sort((a, b) => {
    const d = BigInt(a.firstOffset) - BigInt(b.firstOffset)
    return d < 0n ? -1 : d > 0n ? 1 : 0
  })
  const aborting = new Set<string>()
  let next = 0
  return messages.filter((message) => {
    const offset = BigInt(message.offset)
    while (next < pending.length && BigInt(pending[next]!.firstOffset) <= offset) aborting.add(String(pending[next++]!.producerId))
    const producerId = String(message.batchContext.producerId)
    if (isAbortMarker(message)) {
      aborting.delete(producerId)
      return true // a control record: kafkajs drops those itself
    }
    return !(message.batchContext.inTransaction && aborting.has(producerId))
  })
}

replaceKafkajsModule("kafkajs/src/consumer/filterAbortedMessages.js", filterAbortedMessages, ["kafkajs/src/consumer/batch.js"])
