/**
 * The analyzer's `LineSource` over a Kafka topic, read as a consumer group
 * with `read_committed`.
 *
 * ## Positions
 *
 * The source keeps, per partition, the next offset after the last message it
 * handed to the stream (a batch counts once it is taken from kafkajs, before
 * it is queued). Each emitted `LineBatch.position` holds that map for every
 * partition seen so far, starting from the checkpoint's `from`. Whenever the
 * consumer (re)joins the group (first start, rebalance, kafkajs restart
 * after a retriable crash, or our own restart after a non-retriable one) it
 * seeks every assigned partition to that map, so the stream has no gap and
 * no duplicate whatever the group's committed offsets say; messages below
 * the map's offset are dropped as a second guard. Partitions never seen
 * start at the group's committed offset, else per `--starting-offsets`. A
 * checkpoint offset outside the log (topic recreated, retention) is reported
 * in plain words and replaced by the policy's start.
 *
 * ## Failures
 *
 * A consumer that crashes is restarted with the shared backoff; a fatal
 * error (`Errors.ts`) ends the stream with a `SourceError` instead. So does a
 * join that assigns this member fewer than all of the topic's partitions:
 * then another member shares the group, and there must be one analyzer per
 * consumer group (see `Admin.ts`).
 *
 * ## Committing
 *
 * `commit(position, epoch)`, which the analyzer calls only after the epoch
 * is published, commits the group's offsets with the epoch marker (see
 * `AlertPublisher.ts`). It skips partitions already committed at or beyond
 * the position.
 *
 * ## Partitions
 *
 * Every batch says which partition it comes from and whether that partition
 * has nothing unread after it; the group's assignment and a poll of the end
 * offsets (`Progress.ts`) tell the analyzer which partitions this process
 * reads and which of them are caught up, for the per-partition watermarks.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { Consumer } from "kafkajs"
import type { RejectedLine } from "../../domain/RejectedLine.ts"
import type { SourcePosition } from "../../domain/SourcePosition.ts"
import { splitRun, startsWithBom } from "../LineSplitter.ts"
import { type LineBatch, LineSource, SourceError } from "../LineSource.ts"
import {
  type AdminClient,
  committedOffsets,
  ensureTopics,
  epochMetadata,
  type PartitionRange,
  partitionRanges,
  scopedAdmin
} from "./Admin.ts"
import { KafkaError, kafkaError } from "./Errors.ts"
import { END_OFFSET_POLL_MS, KafkaProgress } from "./Progress.ts"
import { type KafkaNotices, makeNotices } from "./Notices.ts"
import { quietly, retryKafka, retryKafkaEffect } from "./Retry.ts"
import { HEARTBEAT_INTERVAL_MS, type KafkaSettings, makeKafka, SESSION_TIMEOUT_MS } from "./Settings.ts"

export interface KafkaLineSourceOptions {
  readonly settings: KafkaSettings
  readonly topic: string
  readonly groupId: string
  /** Where a partition without a committed offset (or with one outside the log) starts. */
  readonly startingOffsets: "earliest" | "latest"
  /** Partitions for the topic if it has to be created (default 3). */
  readonly partitions?: number | undefined
  /** Longer lines are rejected, not decoded. */
  readonly maxLineBytes: number
  /** Batches buffered between kafkajs and the stream (default 8). */
  readonly bufferBatches?: number | undefined
  /** Fetch limits (kafkajs's defaults when left out): small ones make small batches that interleave partitions finely. */
  readonly fetch?: { readonly maxBytesPerPartition?: number; readonly maxBytes?: number } | undefined
  /** Tests: called with a way to pause and resume single partitions once a consumer runs. */
  readonly onConsumerRunning?: ((control: PartitionControl) => void) | undefined
}

export interface PartitionControl {
  readonly pause: (partitions: ReadonlyArray<number>) => void
  readonly resume: (partitions: ReadonlyArray<number>) => void
}

/** Next offset by partition, as the checkpoint stores it. */
const positionSnapshot = (position: Map<number, number>): SourcePosition => {
  const out: Record<string, number> = {}
  for (const p of [...position.keys()].sort((a, b) => a - b)) out[String(p)] = position.get(p)!
  return out
}

/**
 * Where each partition of a checkpoint's position starts, checked against the
 * log: a partition the topic no longer has is dropped, an offset outside the
 * log is replaced by the policy's start; both are reported.
 */
const startPositions = (
  from: SourcePosition,
  ranges: ReadonlyArray<PartitionRange>,
  options: { readonly topic: string; readonly startingOffsets: "earliest" | "latest"; readonly notices: KafkaNotices }
): Map<number, number> => {
  const { topic, startingOffsets, notices } = options
  const position = new Map<number, number>()
  for (const [key, offset] of Object.entries(from)) {
    const partition = Number(key)
    const range = ranges.find((r) => r.partition === partition)
    if (!range) {
      notices.notice(
        `from-missing:${topic}:${partition}`,
        `Kafka: the checkpoint has a position for ${topic}[${partition}], but ${topic} has only ` +
          `${ranges.length} partition(s): the topic was probably recreated; ignoring that partition`,
        true
      )
      continue
    }
    if (offset >= range.low && offset <= range.high) {
      position.set(partition, offset)
      continue
    }
    const target = startingOffsets === "earliest" ? range.low : range.high
    const why = offset > range.high
      ? `is past the end of the log (${range.high}): the topic was probably recreated`
      : `is before the start of the log (${range.low}): older messages were deleted by retention`
    notices.notice(
      `from-oor:${topic}:${partition}`,
      `Kafka: checkpoint offset ${offset} for ${topic}[${partition}] ${why}; ` +
        `continuing from the ${startingOffsets} offset (${target}) per --starting-offsets`,
      true
    )
    position.set(partition, target)
  }
  return position
}

/**
 * The values of one fetched batch's messages at or after `expected`, as lines; undefined when
 * there are none. Each value is checked as the file and TCP sources check theirs (`splitRun`): a
 * byte-order mark opening a value is not part of its first line, and a final newline ends its last
 * line rather than opening an empty one. The values are joined by newlines into one run first, so
 * a batch costs one UTF-8 check and one run for the analyzer rather than one per message.
 */
export const batchLines = (
  messages: ReadonlyArray<{ readonly offset: string; readonly value: Buffer | null }>,
  expected: number | undefined,
  maxLineBytes: number
): { lines: Array<string | Uint8Array>; rejected: Array<RejectedLine>; last: number } | undefined => {
  if (messages.length === 0) return undefined
  let from = 0
  // Only a batch that starts before `expected` (a seek that kafkajs had not applied yet) is skipped into.
  if (expected !== undefined && Number(messages[0]!.offset) < expected) {
    while (from < messages.length && Number(messages[from]!.offset) < expected) from++
    if (from === messages.length) return undefined
  }
  let size = 0
  for (let i = from; i < messages.length; i++) size += (messages[i]!.value?.length ?? -1) + 1
  const run = Buffer.allocUnsafe(size)
  let at = 0
  let values = 0
  for (let i = from; i < messages.length; i++) {
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
  return { lines, rejected, last: Number(messages[messages.length - 1]!.offset) }
}

type BatchQueue = Queue.Queue<LineBatch, SourceError | Cause.Done>

export const KafkaLineSource = {
  layer: (options: KafkaLineSourceOptions): Layer.Layer<LineSource, SourceError> =>
    Layer.effect(
      LineSource,
      Effect.gen(function*() {
        const { settings, topic, groupId, startingOffsets, maxLineBytes } = options
        const toSourceError = (e: KafkaError) => new SourceError({ message: e.message, cause: e })
        const info = yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(Effect.mapError(toSourceError))
        const partitionCount = info.get(topic)?.partitions ?? 0
        const notices = yield* makeNotices
        /** Partitions kafkajs reset after OFFSET_OUT_OF_RANGE: forget our guard for them. */
        let onOutOfRange: (t: string, p: number) => void = () => undefined
        const kafka = makeKafka(settings, notices, "analyzer", {
          resetPolicy: startingOffsets,
          onOffsetOutOfRange: (t, p) => onOutOfRange(t, p)
        })
        const admin: AdminClient = yield* scopedAdmin(kafka)

        /** The running consumer, for `commit`. */
        let current: Consumer | undefined

        /** One consumer, from connect to crash: fails with the crash, classified. */
        const runConsumer = (
          queue: BatchQueue,
          position: Map<number, number>,
          progress: KafkaProgress
        ): Effect.Effect<never, KafkaError> =>
          Effect.scoped(Effect.gen(function*() {
            const consumer = kafka.consumer({
              groupId,
              allowAutoTopicCreation: false,
              sessionTimeout: SESSION_TIMEOUT_MS,
              rebalanceTimeout: 60_000,
              heartbeatInterval: HEARTBEAT_INTERVAL_MS,
              // Long-poll at most 1 s: bounds how long a stop (or a rebalance) waits for a fetch.
              maxWaitTimeInMs: 1_000,
              readUncommitted: false,
              ...options.fetch,
              retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 }
            })
            // Offers from kafkajs's callbacks run in this fiber's context, and stop with its scope.
            const runPromise = yield* FiberSet.makeRuntimePromise<never, boolean, never>()
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                if (current === consumer) current = undefined
              }).pipe(Effect.andThen(quietly(() => consumer.disconnect(), 30_000)))
            )
            let onCrash: (error: unknown) => void = () => undefined
            const crashed = new Promise<unknown>((resolve) => {
              onCrash = resolve
            })
            let refused = false
            consumer.on(consumer.events.CRASH, (event) => {
              if (!event.payload.restart) onCrash(event.payload.error)
            })
            consumer.on(consumer.events.GROUP_JOIN, (event) => {
              // Synchronous: runs before the first fetch of this generation.
              const assigned = event.payload.memberAssignment[topic] ?? []
              if (assigned.length < partitionCount) {
                refused = true
                onCrash(
                  new KafkaError({
                    reason: "SecondAnalyzer",
                    message: `another analyzer joined consumer group "${groupId}" (this one was given ` +
                      `${assigned.length} of the ${partitionCount} partitions of ${topic}): one analyzer per --group-id. ` +
                      `Stop the other one, or give each its own --group-id (and its own --output and --checkpoint).`
                  })
                )
                return
              }
              for (const partition of assigned) {
                const offset = position.get(partition)
                if (offset !== undefined) consumer.seek({ topic, partition, offset: String(offset) })
              }
              progress.assign(assigned)
              // Tell the analyzer the source is live again and which partitions it reads (an empty
              // batch; dropped if the queue is full of data: the next end-offset poll says it again).
              Queue.offerUnsafe(queue, emptyBatch())
            })
            // Until the group has answered, this process reads no partition: none holds windows back or is idle.
            consumer.on(consumer.events.REBALANCING, () => progress.assign([]))
            onOutOfRange = (t, p) => {
              if (t !== topic) return
              position.delete(p)
              progress.forget(p)
            }
            const emptyBatch = (): LineBatch => ({
              lines: [],
              rejected: [],
              position: positionSnapshot(position),
              partitions: progress.snapshot()
            })
            // Partitions without new messages produce no batches: ask the broker where they end.
            const pollEndOffsets = Effect.tryPromise(() =>
              admin.use(async (a) => {
                const ranges = await partitionRanges(a, topic)
                const starts = new Map<number, number>()
                const missing = progress.withoutPosition
                if (missing.length > 0) {
                  const committed = await committedOffsets(a, groupId, topic)
                  for (const partition of missing) {
                    const range = ranges.find((r) => r.partition === partition)
                    const offset = committed.get(partition)?.offset
                    if (offset !== undefined) starts.set(partition, offset)
                    else if (range) starts.set(partition, startingOffsets === "earliest" ? range.low : range.high)
                  }
                }
                progress.polled(new Map(ranges.map((r) => [r.partition, r.high])), starts)
              })
            ).pipe(
              Effect.andThen(Effect.suspend(() => Queue.offer(queue, emptyBatch()))),
              Effect.ignore, // a failed poll leaves the last answer in place; the next one retries
              Effect.andThen(Effect.sleep(END_OFFSET_POLL_MS)),
              Effect.forever
            )

            yield* retryKafka(
              () => consumer.connect(),
              { what: `connecting the consumer for ${topic}`, key: `source-connect:${topic}`, notices }
            )
            yield* retryKafka(
              () => consumer.subscribe({ topics: [topic], fromBeginning: startingOffsets === "earliest" }),
              { what: `subscribing to ${topic}`, key: `source-subscribe:${topic}`, notices }
            )
            yield* Effect.tryPromise({
              try: () =>
                consumer.run({
                  autoCommit: false,
                  eachBatchAutoResolve: false,
                  partitionsConsumedConcurrently: 1,
                  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
                    if (refused) return
                    const partition = batch.partition
                    const taken = batchLines(batch.messages, position.get(partition), maxLineBytes)
                    if (taken === undefined) return
                    position.set(partition, taken.last + 1)
                    const highWatermark = Number(batch.highWatermark)
                    const lineBatch: LineBatch = {
                      lines: taken.lines,
                      rejected: taken.rejected,
                      position: positionSnapshot(position),
                      partition,
                      caughtUp: taken.last + 1 >= highWatermark
                    }
                    // Back-pressure: hold kafkajs until the stream has room, heartbeating meanwhile.
                    const beat = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_INTERVAL_MS)
                    try {
                      await runPromise(Queue.offer(queue, lineBatch))
                    } catch {
                      return // stopping
                    } finally {
                      clearInterval(beat)
                    }
                    progress.queuedThrough(partition, taken.last + 1, highWatermark)
                    resolveOffset(String(taken.last))
                  }
                }),
              catch: (e) => kafkaError(`starting the Kafka consumer of ${topic}`, e)
            })
            current = consumer
            yield* Effect.forkScoped(pollEndOffsets)
            options.onConsumerRunning?.({
              pause: (partitions) => consumer.pause([{ topic, partitions: [...partitions] }]),
              resume: (partitions) => consumer.resume([{ topic, partitions: [...partitions] }])
            })
            const error = yield* Effect.promise(() => crashed)
            return yield* kafkaError(`reading ${topic}`, error)
          }))

        const batches = (from: SourcePosition | undefined): Stream.Stream<LineBatch, SourceError> =>
          Stream.callback<LineBatch, SourceError>(
            (queue) =>
              Effect.gen(function*() {
                let position = new Map<number, number>()
                if (from !== undefined && Object.keys(from).length > 0) {
                  const ranges = yield* retryKafka(
                    () => admin.use((a) => partitionRanges(a, topic)),
                    { what: `reading the offsets of ${topic}`, key: `source-offsets:${topic}`, notices }
                  )
                  position = startPositions(from, ranges, { topic, startingOffsets, notices })
                }
                const progress = new KafkaProgress(position)
                // A crashed consumer is replaced, with backoff, until a fatal error.
                return yield* retryKafkaEffect(runConsumer(queue, position, progress), {
                  what: `reading ${topic}`,
                  key: `source-crash:${topic}`,
                  notices
                })
              }).pipe(Effect.mapError(toSourceError)),
            { bufferSize: Math.max(1, options.bufferBatches ?? 8), strategy: "suspend" }
          )

        const commit = (position: SourcePosition, epoch: number): Effect.Effect<void, SourceError> =>
          Object.keys(position).length === 0 ? Effect.void : retryKafka(
            async () => {
              const consumer = current
              if (!consumer) return
              const have = await admin.use((a) => committedOffsets(a, groupId, topic))
              const todo = Object.entries(position)
                .filter(([p, next]) => (have.get(Number(p))?.offset ?? -1) < next)
                .map(([p, next]) => ({ topic, partition: Number(p), offset: String(next), metadata: epochMetadata(epoch) }))
              if (todo.length > 0) await consumer.commitOffsets(todo)
            },
            { what: `committing offsets of ${topic} for group ${groupId}`, key: `source-commit:${topic}`, notices }
          ).pipe(Effect.mapError(toSourceError))

        return LineSource.of({
          description: `kafka:${topic}`,
          identity: `kafka:${topic}`,
          live: true,
          // A stop is not the end of the topic: the windows stay open for whoever reads on (README).
          onStop: "keep-windows",
          batches,
          commit
        })
      })
    )
}
