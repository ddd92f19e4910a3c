/**
 * Production mode's stage 2 as an owner of internal partitions
 * (`OwnedPartitions.ts`): per internal partition k it merges the partial
 * aggregates (`WindowMerge`), and per epoch one transaction holds the alerts
 * that fired (to the alerts topic) and k's next offset for the stage's own
 * consumer group, with k's state in the metadata: the windows closed so far,
 * what every input partition last reported, and the offset from which a next
 * owner re-reads k to rebuild the open cells. The `windows/` part of the epoch
 * is prepared hidden and published once the transaction is in, named by k and
 * k's epoch: `part-w0000-00000000000000000042.jsonl`.
 */
import { randomUUID } from "node:crypto"
import type { KafkaMessage } from "kafkajs"
import { type Alert, alertKey } from "../../domain/Alert.ts"
import {
  decodeInternalMessage,
  decodeMergeCommit,
  encodeMergeCommit,
  type MergeOutput,
  type MergeSettings,
  WindowMerge
} from "../../domain/Partials.ts"
import type { WindowRow } from "../../domain/Window.ts"
import type { PreparedParts } from "../../sinks/PreparedParts.ts"
import type { PartitionRange } from "./Admin.ts"
import { KafkaError } from "./Errors.ts"
import type { KafkaNotices } from "./Notices.ts"
import { type Committed, type EpochWork, type PartitionOwner, runEffect } from "./OwnedPartitions.ts"

/** Kafka's default `offset.metadata.max.bytes`: a commit's metadata must fit. */
const MAX_METADATA_BYTES = 4096

export const windowPartName = (partition: number, epoch: number): string =>
  `part-w${String(partition).padStart(4, "0")}-${String(epoch).padStart(20, "0")}.jsonl`
const windowPartPrefix = (partition: number): string => `part-w${String(partition).padStart(4, "0")}-`

export interface WriterState {
  readonly partition: number
  readonly merge: WindowMerge
  out: MergeOutput
  /** Messages before this offset were merged before the last commit: re-read, they rebuild the cells and fire nothing. */
  readonly replayUntil: number
  token: string
  committedNext: number
  /** The state the last commit carried (`stateKey`): an epoch that changes nothing is not committed. */
  committedKey: string | undefined
}

const stateKey = (merge: WindowMerge, next: number): string => encodeMergeCommit({ token: "", state: merge.state(next) })

export interface WindowWriterOptions {
  readonly internalTopic: string
  readonly alertsTopic: string
  readonly settings: MergeSettings
  readonly windows: PreparedParts
  readonly notices: KafkaNotices
  /** The input topic's partitions and their offsets, polled: whether a partition has unread records. */
  readonly inputEnds: () => ReadonlyMap<number, PartitionRange> | undefined
  /** The internal partitions this process merges, for its console and dashboard. */
  readonly writers: Map<number, WriterState>
  /** An epoch's alerts and rows are out. */
  readonly onPublished: (epoch: { readonly alerts: ReadonlyArray<Alert>; readonly closed: ReadonlyArray<WindowRow> }) => void
  readonly now: () => number
}

export const windowWriter = (options: WindowWriterOptions): PartitionOwner<WriterState> => {
  const { windows, notices } = options
  return {
    recover: async (partition: number, committed: Committed | undefined, range: PartitionRange) => {
      const commit = decodeMergeCommit(committed?.metadata)
      if (committed !== undefined && commit === undefined) {
        throw new KafkaError({
          reason: "Settings",
          message: `the offset of ${options.internalTopic}[${partition}] was committed by something other than this ` +
            `version of loglens: its window state is unknown. Start over with --clean.`
        })
      }
      const published = commit === undefined ? undefined : { name: windowPartName(partition, commit.state.epoch), token: commit.token }
      await runEffect(windows.recover(windowPartPrefix(partition), published))
      const merge = new WindowMerge(options.settings)
      if (commit !== undefined) merge.restore(commit.state)
      const from = commit?.state.replayFrom ?? range.low
      const state: WriterState = {
        partition,
        merge,
        out: { closed: [], alerts: [] },
        replayUntil: committed?.offset ?? from,
        token: randomUUID(),
        committedNext: committed?.offset ?? from,
        committedKey: commit === undefined ? undefined : encodeMergeCommit({ token: "", state: commit.state })
      }
      options.writers.set(partition, state)
      return { state, from }
    },

    take: async (state: WriterState, messages: ReadonlyArray<KafkaMessage>) => {
      const now = options.now()
      for (const message of messages) {
        const offset = Number(message.offset)
        const decoded = message.value === null ? undefined : decodeInternalMessage(message.value.toString("utf8"))
        if (decoded === undefined) {
          notices.notice(
            `foreign-message:${options.internalTopic}`,
            `loglens: ${options.internalTopic}[${state.partition}] offset ${offset} holds a message loglens did not write; skipped`
          )
          continue
        }
        state.merge.apply(decoded, offset, now, state.out, offset < state.replayUntil)
      }
    },

    urgent: (state: WriterState) => state.out.alerts.length > 0,

    epoch: async (state: WriterState, next: number): Promise<EpochWork | undefined> => {
      // Until the cells are rebuilt, no window may close on them.
      if (next < state.replayUntil) return undefined
      const ends = options.inputEnds()
      if (ends !== undefined) state.merge.close(ends, state.out)
      const { merge, out } = state
      const unchanged = stateKey(merge, next) === state.committedKey
      if (out.closed.length === 0 && out.alerts.length === 0 && next === state.committedNext && unchanged) return undefined
      merge.epoch++
      const epoch = { alerts: out.alerts, closed: out.closed }
      state.out = { closed: [], alerts: [] }
      const name = windowPartName(state.partition, merge.epoch)
      const { token } = state
      await runEffect(windows.append(name, token, epoch.closed.map((row) => JSON.stringify(row))))
      const prepared = await runEffect(windows.prepare(name, token))
      const metadata = encodeMergeCommit({ token, state: merge.state(next) })
      if (Buffer.byteLength(metadata) > MAX_METADATA_BYTES) {
        throw new KafkaError({
          reason: "Settings",
          message: `the window state of ${options.internalTopic}[${state.partition}] no longer fits in an offset commit's ` +
            `metadata (${Buffer.byteLength(metadata)} bytes, the broker's default limit is ${MAX_METADATA_BYTES}): ` +
            `the input topic has too many partitions for this version of loglens`
        })
      }
      return {
        messages: [{
          topic: options.alertsTopic,
          messages: epoch.alerts.map((alert) => ({ key: alertKey(alert), value: JSON.stringify(alert) }))
        }],
        metadata,
        committed: async () => {
          if (prepared) await runEffect(windows.publish(name, token))
          state.token = randomUUID()
          state.committedNext = next
          state.committedKey = stateKey(merge, next)
          options.onPublished(epoch)
        },
        aborted: async () => {
          await runEffect(windows.discard(name, token))
        }
      }
    },

    dropped: async (state: WriterState) => {
      if (options.writers.get(state.partition) === state) options.writers.delete(state.partition)
      await runEffect(windows.discard(windowPartName(state.partition, state.merge.epoch + 1), state.token))
    }
  }
}
