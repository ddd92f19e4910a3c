/**
 * Kafka message values as the analyzer's lines: production mode's stage 1
 * (`PartitionReader.ts`) turns each fetched batch of one input partition into
 * lines and rejections with this.
 */
import type { RejectedLine } from "../../domain/RejectedLine.ts"
import { splitRun, startsWithBom } from "../LineSplitter.ts"

/**
 * The values of one fetched batch's messages as lines; undefined when there are none. The messages
 * are the ones the partition's owner takes (`OwnedPartitions.ts` has dropped those it already
 * read). Each value is checked as the file and TCP sources check theirs (`splitRun`): a byte-order
 * mark opening a value is not part of its first line, and a final newline ends its last line rather
 * than opening an empty one. The values are joined by newlines into one run first, so a batch costs
 * one UTF-8 check and one run for the analyzer rather than one per message.
 */
export const batchLines = (
  messages: ReadonlyArray<{ readonly value: Buffer | null }>,
  maxLineBytes: number
): { lines: Array<string | Uint8Array>; rejected: Array<RejectedLine> } | undefined => {
  if (messages.length === 0) return undefined
  let size = 0
  for (let i = 0; i < messages.length; i++) size += (messages[i]!.value?.length ?? -1) + 1
  const run = Buffer.allocUnsafe(size)
  let at = 0
  let values = 0
  for (let i = 0; i < messages.length; i++) {
    const value = messages[i]!.value
    if (value === null) continue // a tombstone: no line
    const start = startsWithBom(value) ? 3 : 0
    const end = value.length > start && value[value.length - 1] === 10 ? value.length - 1 : value.length
    if (values++ > 0) run[at++] = 10
    at += value.copy(run, at, start, end)
  }
  const lines: Array<string | Uint8Array> = []
  const rejected: Array<RejectedLine> = []
  if (values > 0) splitRun(run.subarray(0, at), maxLineBytes, lines, rejected)
  return { lines, rejected }
}
