/**
 * Production mode on Kafka: both stages of one analyzer process, over the
 * topics and consumer groups every analyzer of `--group-id` shares.
 *
 *   <topic>                 input; consumer group <group-id>; one transactional id per partition
 *   <group-id>-partials     partial aggregates and partition reports (created with
 *                           --internal-partitions partitions); consumer group <group-id>-windows
 *   <alerts-topic>          alerts, written in stage 2's transactions
 *
 * Any number of processes may run this with the same settings and share one
 * `--output` folder; the consumer groups share the partitions out, and the
 * transactions and part tokens keep every output exactly once (README,
 * "Production mode: a consumer group of analyzers").
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import type { Alert } from "../../domain/Alert.ts"
import type { AnalysisSettings } from "../../domain/Analysis.ts"
import type { WindowRow } from "../../domain/Window.ts"
import { openPreparedParts } from "../../sinks/PreparedParts.ts"
import type { StoreError } from "../../sinks/StoreError.ts"
import { ensureTopics, type PartitionRange, partitionRanges, scopedAdmin } from "./Admin.ts"
import type { KafkaError } from "./Errors.ts"
import { makeNotices } from "./Notices.ts"
import { type OwnedPartitionsError, runOwnedPartitions } from "./OwnedPartitions.ts"
import { partitionReader, type ReaderState } from "./PartitionReader.ts"
import { retryKafkaEffect } from "./Retry.ts"
import { END_OFFSET_POLL_MS, type KafkaSettings, makeKafka } from "./Settings.ts"
import { windowWriter, type WriterState } from "./WindowWriter.ts"

export interface StagesOptions {
  readonly settings: KafkaSettings
  readonly topic: string
  readonly groupId: string
  readonly alertsTopic: string
  readonly startingOffsets: "earliest" | "latest"
  /** Partitions for the input and alerts topics if they have to be created. */
  readonly partitions: number
  /** Partitions of the internal topic if it has to be created: how many processes can share stage 2. */
  readonly internalPartitions: number
  readonly output: string
  readonly analysis: AnalysisSettings
  readonly commitIntervalMs: number
  readonly maxLineBytes: number
}

export interface StageHooks {
  /** An epoch of stage 2 is out: its alerts and the rows of the windows it closed. */
  readonly onPublished: (epoch: { readonly alerts: ReadonlyArray<Alert>; readonly closed: ReadonlyArray<WindowRow> }) => void
  /** Error lines as stage 1 reads them. */
  readonly onErrors: (lines: ReadonlyArray<string>) => void
}

/** The name of the internal topic of a consumer group of analyzers. */
export const internalTopicOf = (groupId: string): string => `${groupId}-partials`
/** The consumer group of stage 2. */
export const windowGroupOf = (groupId: string): string => `${groupId}-windows`

export class ProductionStages extends Context.Service<ProductionStages, {
  readonly description: string
  /** The input partitions this process reads now. */
  readonly readers: ReadonlyMap<number, ReaderState>
  /** The internal partitions this process merges now. */
  readonly writers: ReadonlyMap<number, WriterState>
  /** Unread records of each input partition this process reads (null before the first poll). */
  readonly lag: () => Readonly<Record<string, number>> | null
  readonly run: (hooks: StageHooks) => Effect.Effect<never, OwnedPartitionsError, Scope.Scope>
}>()("loglens/transport/kafka/ProductionStages") {
  static readonly layer = (options: StagesOptions): Layer.Layer<ProductionStages, KafkaError | StoreError> =>
    Layer.effect(
      ProductionStages,
      Effect.gen(function*() {
        const { settings, topic, groupId, alertsTopic } = options
        const internalTopic = internalTopicOf(groupId)
        const topics = yield* ensureTopics(settings, [topic, alertsTopic], options.partitions)
        const partitionCount = topics.get(topic)?.partitions ?? options.partitions
        const internal = yield* ensureTopics(settings, [internalTopic], options.internalPartitions)
        const internalPartitions = internal.get(internalTopic)?.partitions ?? options.internalPartitions
        const errors = yield* openPreparedParts(path.join(options.output, "errors"))
        const rejected = yield* openPreparedParts(path.join(options.output, "rejected"))
        const windows = yield* openPreparedParts(path.join(options.output, "windows"))
        const notices = yield* makeNotices
        const admin = yield* scopedAdmin(makeKafka(settings, notices, "analyzer-admin"))
        const readers = new Map<number, ReaderState>()
        const writers = new Map<number, WriterState>()
        let ends: Map<number, PartitionRange> | undefined
        const now = () => Date.now()

        const pollEnds = Effect.tryPromise(() => admin.use((a) => partitionRanges(a, topic))).pipe(
          Effect.tap((ranges) => Effect.sync(() => void (ends = new Map(ranges.map((r) => [r.partition, r]))))),
          Effect.ignore, // a failed poll leaves the last answer in place; the next one retries
          Effect.andThen(Effect.sleep(END_OFFSET_POLL_MS)),
          Effect.forever
        )

        const run = (hooks: StageHooks) =>
          Effect.gen(function*() {
            yield* Effect.forkScoped(pollEnds)
            const reading = runOwnedPartitions({
              kafka: makeKafka(settings, notices, "analyzer", { resetPolicy: options.startingOffsets }),
              fromBeginning: options.startingOffsets === "earliest",
              admin,
              topic,
              groupId,
              transactionalIdOf: (p) => `loglens-${groupId}-${topic}-${p}`,
              commitIntervalMs: options.commitIntervalMs,
              notices,
              what: `reading ${topic}`,
              owner: partitionReader({
                topic,
                internalTopic,
                internalPartitions,
                partitionCount,
                settings: options.analysis,
                startingOffsets: options.startingOffsets,
                maxLineBytes: options.maxLineBytes,
                errors,
                rejected,
                notices,
                ends: () => ends ?? new Map(),
                readers,
                onErrors: hooks.onErrors,
                now
              })
            })
            const merging = runOwnedPartitions({
              kafka: makeKafka(settings, notices, "analyzer-windows", { resetPolicy: "earliest" }),
              fromBeginning: true,
              admin,
              topic: internalTopic,
              groupId: windowGroupOf(groupId),
              transactionalIdOf: (k) => `loglens-${groupId}-windows-${k}`,
              commitIntervalMs: options.commitIntervalMs,
              notices,
              what: `merging ${internalTopic}`,
              owner: windowWriter({
                internalTopic,
                alertsTopic,
                settings: {
                  windowMs: options.analysis.windowMs,
                  watermarkMs: options.analysis.watermarkMs,
                  threshold: options.analysis.threshold
                },
                windows,
                notices,
                inputEnds: () => ends,
                writers,
                onPublished: hooks.onPublished,
                now
              })
            })
            // Each stage commits what it has before it leaves (its scope's finalizer). A consumer that kafkajs
            // gave up on starts over with the shared backoff (its partitions are taken over again); a failure
            // that retrying cannot fix stops both stages.
            const restarting = (stage: typeof reading, what: string) =>
              retryKafkaEffect(Effect.scoped(stage), { what, key: `stage:${what}`, notices })
            return yield* Effect.all([restarting(reading, `reading ${topic}`), restarting(merging, `merging ${internalTopic}`)], {
              concurrency: "unbounded"
            }).pipe(
              Effect.andThen(Effect.never)
            )
          })

        return ProductionStages.of({
          description: `kafka:${topic} (group ${groupId})`,
          readers,
          writers,
          lag: () => {
            if (ends === undefined) return null
            const out: Record<string, number> = {}
            for (const [p, reader] of readers) {
              const range = ends.get(p)
              if (range !== undefined) out[String(p)] = Math.max(0, range.high - reader.committedNext)
            }
            return out
          },
          run
        })
      })
    )
}
