/**
 * Production mode's stage 1 as an owner of input partitions
 * (`OwnedPartitions.ts`): per input partition p, per epoch, one transaction
 * holds p's partial aggregates and its report (to the internal topic) and p's
 * next offset for the analyzers' consumer group, with the metadata a next
 * owner needs: wm_p's event time, and the token of the epoch's `errors/` and
 * `rejected/` parts. Those parts are prepared hidden and published once the
 * transaction is in (`PreparedParts.ts`); they are named by p and the epoch's
 * first offset, `part-p0003-00000000000000001234.jsonl`.
 */
import { randomUUID } from "node:crypto"
import type { KafkaMessage, Message } from "kafkajs"
import { AnalysisOutput, type AnalysisSettings } from "../../domain/Analysis.ts"
import {
  decodePartitionCommit,
  encodeCell,
  encodePartitionCommit,
  encodeReport,
  internalPartitionOf,
  PartitionStage
} from "../../domain/Partials.ts"
import type { PreparedParts } from "../../sinks/PreparedParts.ts"
import type { PartitionRange } from "./Admin.ts"
import type { KafkaNotices } from "./Notices.ts"
import { type Committed, type EpochWork, type PartitionOwner, runEffect } from "./OwnedPartitions.ts"
import { batchLines } from "./BatchLines.ts"

/** Errors and rejections go to their hidden parts in slices this big, so memory stays flat within an epoch. */
const BUFFER_LINES = 4096

export const inputPartName = (partition: number, from: number): string =>
  `part-p${String(partition).padStart(4, "0")}-${String(from).padStart(20, "0")}.jsonl`
export const inputPartPrefix = (partition: number): string => `part-p${String(partition).padStart(4, "0")}-`

export interface ReaderState {
  readonly stage: PartitionStage
  readonly out: AnalysisOutput
  /** The epoch's first offset, and the token of its hidden parts. */
  from: number
  token: string
  /** The offset and report of the last commit: an epoch that changes neither, and read nothing, is not committed. */
  committedNext: number
  committedReport: string | undefined
  highWatermark: number
}

export interface PartitionReaderOptions {
  readonly topic: string
  readonly internalTopic: string
  readonly internalPartitions: number
  /** The input topic's partitions at start-up. */
  readonly partitionCount: number
  readonly settings: AnalysisSettings
  readonly startingOffsets: "earliest" | "latest"
  readonly maxLineBytes: number
  readonly errors: PreparedParts
  readonly rejected: PreparedParts
  readonly notices: KafkaNotices
  /** The input topic's end offsets, polled. */
  readonly ends: () => ReadonlyMap<number, PartitionRange>
  /** The partitions this process reads, for its console and dashboard. */
  readonly readers: Map<number, ReaderState>
  /** Error lines as they are read, for the live view's samples. */
  readonly onErrors?: (lines: ReadonlyArray<string>) => void
  readonly now: () => number
}

export const partitionReader = (options: PartitionReaderOptions): PartitionOwner<ReaderState> => {
  const { topic, errors, rejected, notices } = options

  const flush = async (state: ReaderState) => {
    const { out, token, from } = state
    const name = inputPartName(state.stage.partition, from)
    options.onErrors?.(out.errors)
    await runEffect(errors.append(name, token, out.errors))
    await runEffect(rejected.append(name, token, out.rejected.map((r) => JSON.stringify(r))))
    out.errors.length = 0
    out.rejected.length = 0
  }

  return {
    recover: async (partition: number, committed: Committed | undefined, range: PartitionRange) => {
      const commit = decodePartitionCommit(committed?.metadata)
      // No metadata: a plain commit (kafkajs's own reset of an offset outside the log, another tool).
      if (committed !== undefined && commit === undefined && committed.metadata) {
        notices.notice(
          `foreign-commit:${topic}:${partition}`,
          `loglens: the consumer group's offset for ${topic}[${partition}] (${committed.offset}) was not committed by this ` +
            `version of loglens; reading on from it, with that partition's watermark starting over`,
          true
        )
      }
      const published = commit === undefined ? undefined : { name: inputPartName(partition, commit.from), token: commit.token }
      await runEffect(errors.recover(inputPartPrefix(partition), published))
      await runEffect(rejected.recover(inputPartPrefix(partition), published))
      let from = committed?.offset ?? (options.startingOffsets === "earliest" ? range.low : range.high)
      if (from < range.low || from > range.high) {
        const target = options.startingOffsets === "earliest" ? range.low : range.high
        notices.notice(
          `oor:${topic}:${partition}`,
          `Kafka: committed offset ${from} for ${topic}[${partition}] is ${from > range.high ? "past the end" : "before the start"} ` +
            `of the log (${range.low}–${range.high}); continuing from the ${options.startingOffsets} offset (${target}) per --starting-offsets`,
          true
        )
        from = target
      }
      const state: ReaderState = {
        stage: new PartitionStage(
          partition,
          options.settings,
          commit?.maxEventTimeMs ?? null,
          options.now(),
          Math.max(1, options.ends().size, options.partitionCount)
        ),
        out: new AnalysisOutput(),
        from,
        token: randomUUID(),
        committedNext: from,
        committedReport: undefined,
        highWatermark: range.high
      }
      options.readers.set(partition, state)
      return { state, from }
    },

    take: async (state: ReaderState, messages: ReadonlyArray<KafkaMessage>, highWatermark: number) => {
      state.highWatermark = highWatermark
      const taken = batchLines(messages, options.maxLineBytes)
      if (taken === undefined) return
      if (taken.rejected.length > 0) state.stage.analysis.rejectRaw(taken.rejected, state.out)
      state.stage.ingest(taken.lines, options.now(), state.out)
      if (state.out.errors.length + state.out.rejected.length >= BUFFER_LINES) await flush(state)
    },

    urgent: (state: ReaderState) => state.stage.urgent,

    epoch: async (state: ReaderState, next: number): Promise<EpochWork | undefined> => {
      const { stage } = state
      const end = Math.max(state.highWatermark, options.ends().get(stage.partition)?.high ?? 0)
      const idle = stage.isIdle(next >= end, options.now(), options.settings.idleTimeoutMs)
      const report = encodeReport({ partition: stage.partition, maxEventTimeMs: stage.maxEventTimeMs, next, idle })
      const read = next !== state.committedNext
      if (!read && !stage.hasPartials && report === state.committedReport) return undefined
      await flush(state)
      const name = inputPartName(stage.partition, state.from)
      const { token } = state
      const hasErrors = await runEffect(errors.prepare(name, token))
      const hasRejected = await runEffect(rejected.prepare(name, token))
      const byPartition: Array<Message> = []
      for (const cell of stage.takePartials()) {
        byPartition.push({
          partition: internalPartitionOf(cell.startMs, options.settings.windowMs, options.internalPartitions),
          value: encodeCell(cell)
        })
      }
      // After the partials: no window closes on this report before they are merged.
      for (let k = 0; k < options.internalPartitions; k++) byPartition.push({ partition: k, value: report })
      return {
        messages: [{ topic: options.internalTopic, messages: byPartition }],
        metadata: encodePartitionCommit({ token, from: state.from, maxEventTimeMs: stage.maxEventTimeMs }),
        committed: async () => {
          if (hasErrors) await runEffect(errors.publish(name, token))
          if (hasRejected) await runEffect(rejected.publish(name, token))
          state.from = next
          state.token = randomUUID()
          state.committedNext = next
          state.committedReport = report
        },
        aborted: async () => {
          await runEffect(errors.discard(name, token))
          await runEffect(rejected.discard(name, token))
        }
      }
    },

    dropped: async (state: ReaderState) => {
      if (options.readers.get(state.stage.partition) === state) options.readers.delete(state.stage.partition)
      const name = inputPartName(state.stage.partition, state.from)
      await runEffect(errors.discard(name, state.token))
      await runEffect(rejected.discard(name, state.token))
    }
  }
}
