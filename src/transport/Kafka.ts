/**
 * Production mode over Kafka (kafkajs): the generator's `LineSink`, the
 * analyzer's `LineSource`, and the `AlertPublisher` for the `alerts` topic.
 *
 * ## Exactly-once alerts
 *
 * The analyzer works in epochs. After an epoch's `errors/`, `windows/` and
 * `rejected/` files and its checkpoint (windows, watermark, source position)
 * are durable, it calls `AlertPublisher.publish(epoch, alerts, position)`.
 * The Kafka publisher runs ONE Kafka transaction per epoch, with the
 * transactional id `loglens-<groupId>`:
 *
 *   1. send the epoch's alerts to the alerts topic (value: the alert JSON,
 *      key: `<window_start>|<status>`),
 *   2. `sendOffsets`: commit the epoch's source position (next offset per
 *      partition of the source topic) for the consumer group, with the offset
 *      metadata `loglens-epoch=<epoch>`,
 *   3. commit.
 *
 * Alerts and offsets become visible together or not at all, so for a
 * `read_committed` reader the group's committed offsets say exactly which
 * epochs' alerts are out. Every epoch is published, even one without alerts
 * (then the transaction only moves the offsets).
 *
 * - Crash before the commit: the transaction stays open. The next process
 *   starts a producer with the same transactional id; Kafka then fences the
 *   old producer and aborts its open transaction, so `read_committed` readers
 *   never see those alerts. At start-up the analyzer calls
 *   `recover(epoch, alerts, position)` with its last checkpoint: the
 *   publisher first starts its transactional producer, which waits until a
 *   transaction the dead process was committing is complete (until then its
 *   offsets are invisible to kafkajs's OffsetFetch), then reads the group's
 *   committed offsets and, unless every partition
 *   of `position` is committed at that offset by this epoch's transaction
 *   (offset ≥ position and metadata epoch ≥ epoch), publishes the epoch again.
 * - Crash after the commit: the offsets show the epoch as done; `recover`
 *   publishes nothing.
 * - A failed attempt (broker down, coordinator moved, commit timed out with
 *   an unknown outcome) aborts the transaction, drops the producer, and before
 *   retrying checks the committed offsets as `recover` does, so a commit that
 *   did land is never repeated. Retries back off up to 5 s, forever.
 *
 * `KafkaLineSource.commit(position, epoch)`, which the analyzer calls only
 * after the epoch is published, also commits the group's offsets (for tools
 * and for a restart without a checkpoint), with the same epoch marker. It
 * skips partitions already committed at or beyond the position, but its view
 * of the offsets may predate the transaction's (the group coordinator applies
 * them when the commit marker lands), so it can overwrite them at the same
 * offset: the marker keeps saying the epoch is out. A commit without the
 * marker (another client) counts as "not published yet".
 *
 * Supported deployment: one analyzer process per consumer group (its
 * checkpoint is local), as with the Spark job this replaces.
 *
 * ## Source positions and rebalancing
 *
 * The source keeps, per partition, the next offset after the last message it
 * handed to the stream (a batch counts once it is taken from kafkajs, before
 * it is queued). Each emitted `LineBatch.position` holds that map for every
 * partition seen so far, starting from the checkpoint's `from`. Whenever the
 * consumer (re)joins the group — first start, rebalance, kafkajs restart
 * after a retriable crash, or our own restart after a non-retriable one — it
 * seeks every assigned partition to that map, so the stream has no gap and no
 * duplicate whatever the group's committed offsets say; messages below the
 * map's offset are dropped as a second guard. Partitions never seen start at
 * the group's committed offset, else per `--starting-offsets`. A checkpoint
 * offset outside the log (topic recreated, retention) is reported in plain
 * words and replaced by the policy's start. Only authentication or
 * authorization failures end the stream with a `SourceError`; anything else
 * restarts the consumer with backoff.
 *
 * ## Generator
 *
 * An idempotent producer (acks=-1, one request in flight) sends each
 * `write(lines)` sequentially, in as few requests as the broker's size limits
 * allow. Partitions are assigned by us, round-robin, once per line, so a
 * retry resends exactly the same per-partition batches with the same
 * sequence numbers and the broker drops any copy it already has. When
 * kafkajs gives up, the same producer retries the same batch forever with
 * backoff. Only if the producer's idempotence state itself is lost
 * (UNKNOWN_PRODUCER_ID, fenced epoch, out-of-order sequence) is the producer
 * recreated; that batch may then be duplicated once, and a notice says so.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { Partitioners, type Admin, type Consumer, type Producer } from "kafkajs"
import { type Alert, alertKey } from "../domain/Alert.ts"
import type { RejectedLine } from "../domain/RejectedLine.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import { AlertError, AlertPublisher } from "../sinks/AlertPublisher.ts"
import {
  describeKafkaError,
  ensureTopics,
  isFatalKafkaError,
  type KafkaSettings,
  kafkaNotice,
  makeKafka,
  quietly,
  retryKafka
} from "./KafkaClient.ts"
import { LineSink, SinkError } from "./LineSink.ts"
import { splitRun, startsWithBom } from "./LineSplitter.ts"
import { type LineBatch, LineSource, SourceError } from "./LineSource.ts"

export {
  describeKafkaSettings,
  ensureTopics,
  KafkaError,
  type KafkaSettings,
  kafkaSettingsFromEnv
} from "./KafkaClient.ts"

const errorTypes = (e: unknown): Array<string> => {
  const out: Array<string> = []
  let cur: any = e
  for (let i = 0; cur && i < 10; i++) {
    if (typeof cur.type === "string") out.push(cur.type)
    cur = cur.originalError ?? cur.cause
  }
  return out
}

// ---------------------------------------------------------------------------
// Sink

export interface KafkaLineSinkOptions {
  readonly settings: KafkaSettings
  readonly topic: string
  /** Partitions for the topic if it has to be created (default 3). */
  readonly partitions?: number | undefined
}

/**
 * kafkajs wants unlimited retries for idempotent producers; a send then keeps
 * retrying inside kafkajs (resending only to brokers without a response).
 */
const IDEMPOTENT_RETRIES = Number.MAX_SAFE_INTEGER

/** The broker's default max.message.bytes is ~1 MiB per record batch (one per partition). */
const MAX_BATCH_BYTES_PER_PARTITION = 768 * 1024
/** Errors that mean the producer's idempotence state is gone: start a new producer. */
const PRODUCER_STATE_ERRORS = new Set([
  "UNKNOWN_PRODUCER_ID",
  "INVALID_PRODUCER_EPOCH",
  "PRODUCER_FENCED",
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "INVALID_PRODUCER_ID_MAPPING"
])
/** Errors about the lines themselves: retrying cannot help. */
const RECORD_ERRORS = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE"])

export const KafkaLineSink = {
  layer: (options: KafkaLineSinkOptions): Layer.Layer<LineSink, SinkError> =>
    Layer.effect(
      LineSink,
      Effect.gen(function*() {
        const { settings, topic } = options
        const counts = yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(
          Effect.mapError((e) => new SinkError({ message: e.message, cause: e }))
        )
        const partitionCount = Math.max(1, counts.get(topic) ?? options.partitions ?? 3)
        const kafka = makeKafka(settings, {}, "generator")
        const newProducer = () =>
          kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
            createPartitioner: Partitioners.DefaultPartitioner,
            retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: IDEMPOTENT_RETRIES }
          })
        let producer: Producer = newProducer()
        let connected = false
        yield* Effect.addFinalizer(() => quietly(() => producer.disconnect()))

        const mkError = (message: string, cause: unknown) => new SinkError({ message, cause })
        const connect = retryKafka(
          async () => {
            if (!connected) {
              await producer.connect()
              connected = true
            }
          },
          { what: `connecting the producer for ${topic}`, key: `sink-connect:${topic}` },
          mkError
        )
        yield* connect

        let next = Math.floor(Math.random() * partitionCount)
        const lock = Semaphore.makeUnsafe(1)

        const sendChunk = (messages: Array<{ value: string; partition: number }>) =>
          retryKafka(
            async () => {
              if (!connected) {
                await producer.connect()
                connected = true
              }
              try {
                await producer.send({ topic, acks: -1, messages })
              } catch (e) {
                const types = errorTypes(e)
                if (types.some((t) => RECORD_ERRORS.has(t))) {
                  throw Object.assign(new Error(`Kafka refused the lines: ${describeKafkaError(e)}`), {
                    loglensFatal: true,
                    cause: e
                  })
                }
                if (types.some((t) => PRODUCER_STATE_ERRORS.has(t))) {
                  kafkaNotice(
                    `sink-reset:${topic}`,
                    `Kafka: the producer lost its idempotence state (${types.join(", ")}); starting a new one. ` +
                      `The ${messages.length} lines being sent may appear twice in ${topic}.`,
                    true
                  )
                  const old = producer
                  producer = newProducer()
                  connected = false
                  await old.disconnect().catch(() => undefined)
                }
                throw e
              }
            },
            { what: `sending ${messages.length} lines to ${topic}`, key: `sink-send:${topic}` },
            mkError
          )

        const write = (lines: ReadonlyArray<string>): Effect.Effect<void, SinkError> =>
          lines.length === 0 ? Effect.void : Semaphore.withPermit(
            lock,
            Effect.gen(function*() {
              const limit = MAX_BATCH_BYTES_PER_PARTITION * partitionCount
              let chunk: Array<{ value: string; partition: number }> = []
              let bytes = 0
              for (const line of lines) {
                const size = Buffer.byteLength(line) + 32
                if (chunk.length > 0 && bytes + size > limit) {
                  yield* sendChunk(chunk)
                  chunk = []
                  bytes = 0
                }
                chunk.push({ value: line, partition: next })
                next = next + 1 === partitionCount ? 0 : next + 1
                bytes += size
              }
              if (chunk.length > 0) yield* sendChunk(chunk)
            })
          )

        return LineSink.of({ description: `kafka:${topic}`, write })
      })
    )
}

// ---------------------------------------------------------------------------
// Source

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
}

/**
 * One Kafka message value as lines, checked as the file and TCP sources check theirs (`splitRun`):
 * a byte-order mark opening the value is not part of its first line, and a final newline ends the
 * last line rather than opening an empty one.
 */
export const decodeMessageValue = (
  value: Uint8Array,
  maxLineBytes: number,
  lines: Array<string | Uint8Array>,
  rejected: Array<RejectedLine>
): void => {
  const start = startsWithBom(value) ? 3 : 0
  const end = value.length > start && value[value.length - 1] === 10 ? value.length - 1 : value.length
  splitRun(value.subarray(start, end), maxLineBytes, lines, rejected)
}

const positionSnapshot = (position: Map<number, number>): SourcePosition => {
  const out: Record<string, number> = {}
  for (const p of [...position.keys()].sort((a, b) => a - b)) out[String(p)] = position.get(p)!
  return out
}

export const KafkaLineSource = {
  layer: (options: KafkaLineSourceOptions): Layer.Layer<LineSource, SourceError> =>
    Layer.effect(
      LineSource,
      Effect.gen(function*() {
        const { settings, topic, groupId, startingOffsets, maxLineBytes } = options
        const mkError = (message: string, cause: unknown) => new SourceError({ message, cause })
        yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(
          Effect.mapError((e) => new SourceError({ message: e.message, cause: e }))
        )
        const policyWords = startingOffsets === "earliest" ? "earliest" : "latest"
        /** Partitions kafkajs reset after OFFSET_OUT_OF_RANGE: forget our guard for them. */
        let onOutOfRange: (t: string, p: number) => void = () => undefined
        const kafka = makeKafka(settings, {
          resetPolicy: policyWords,
          onOffsetOutOfRange: (t, p) => onOutOfRange(t, p)
        }, "analyzer")

        const admin: Admin = kafka.admin()
        let adminConnected = false
        const withAdmin = async <A>(f: (admin: Admin) => Promise<A>): Promise<A> => {
          if (!adminConnected) {
            await admin.connect()
            adminConnected = true
          }
          return f(admin)
        }
        yield* Effect.addFinalizer(() => quietly(() => admin.disconnect()))

        /** The running consumer, for `commit`. */
        let current: Consumer | undefined

        const runConsumer = (
          queue: Queue.Queue<LineBatch, SourceError | import("effect/Cause").Done>,
          position: Map<number, number>
        ): Effect.Effect<unknown, SourceError> =>
          Effect.scoped(Effect.gen(function*() {
            const consumer = kafka.consumer({
              groupId,
              allowAutoTopicCreation: false,
              sessionTimeout: 30_000,
              rebalanceTimeout: 60_000,
              heartbeatInterval: 3_000,
              // Long-poll at most 1 s: bounds how long a stop (or a rebalance) waits for a fetch.
              maxWaitTimeInMs: 1_000,
              readUncommitted: false,
              retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 }
            })
            const stopping = new AbortController()
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                stopping.abort()
                if (current === consumer) current = undefined
              }).pipe(Effect.andThen(quietly(() => consumer.disconnect(), 30_000)))
            )
            let onCrash: (error: unknown) => void = () => undefined
            const crashed = new Promise<unknown>((resolve) => {
              onCrash = resolve
            })
            consumer.on(consumer.events.CRASH, (event) => {
              if (!event.payload.restart) onCrash(event.payload.error)
            })
            consumer.on(consumer.events.GROUP_JOIN, (event) => {
              // Synchronous: runs before the first fetch of this generation.
              const assigned = event.payload.memberAssignment[topic] ?? []
              for (const partition of assigned) {
                const offset = position.get(partition)
                if (offset !== undefined) consumer.seek({ topic, partition, offset: String(offset) })
              }
              // Tell the analyzer the source is live again (an empty batch; dropped if the queue is full of data).
              Queue.offerUnsafe(queue, { lines: [], rejected: [], position: positionSnapshot(position) })
            })
            onOutOfRange = (t, p) => {
              if (t === topic) position.delete(p)
            }

            yield* retryKafka(
              () => consumer.connect(),
              { what: `connecting the consumer for ${topic}`, key: `source-connect:${topic}` },
              mkError
            )
            yield* retryKafka(
              () => consumer.subscribe({ topics: [topic], fromBeginning: startingOffsets === "earliest" }),
              { what: `subscribing to ${topic}`, key: `source-subscribe:${topic}` },
              mkError
            )
            yield* Effect.tryPromise({
              try: () =>
                consumer.run({
                  autoCommit: false,
                  eachBatchAutoResolve: false,
                  partitionsConsumedConcurrently: 1,
                  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
                    const partition = batch.partition
                    const expected = position.get(partition)
                    const lines: Array<string | Uint8Array> = []
                    const rejected: Array<RejectedLine> = []
                    let last = -1
                    for (const message of batch.messages) {
                      const offset = Number(message.offset)
                      if (expected !== undefined && offset < expected) continue
                      last = offset
                      if (message.value !== null) {
                        decodeMessageValue(message.value, maxLineBytes, lines, rejected)
                      }
                    }
                    if (last < 0) return
                    position.set(partition, last + 1)
                    const lineBatch: LineBatch = { lines, rejected, position: positionSnapshot(position) }
                    // Back-pressure: hold kafkajs until the stream has room, heartbeating meanwhile.
                    const beat = setInterval(() => void heartbeat().catch(() => undefined), 3_000)
                    try {
                      await Effect.runPromise(Queue.offer(queue, lineBatch), { signal: stopping.signal })
                    } catch {
                      return // stopping
                    } finally {
                      clearInterval(beat)
                    }
                    resolveOffset(String(last))
                  }
                }),
              catch: (e) => new SourceError({ message: `starting the Kafka consumer failed: ${describeKafkaError(e)}`, cause: e })
            })
            current = consumer
            return yield* Effect.promise(() => crashed)
          }))

        const batches = (from: SourcePosition | undefined): Stream.Stream<LineBatch, SourceError> =>
          Stream.callback<LineBatch, SourceError>(
            (queue) =>
              Effect.gen(function*() {
                const position = new Map<number, number>()
                if (from !== undefined && Object.keys(from).length > 0) {
                  const offsets = yield* retryKafka(
                    () => withAdmin((a) => a.fetchTopicOffsets(topic)),
                    { what: `reading the offsets of ${topic}`, key: `source-offsets:${topic}` },
                    mkError
                  )
                  for (const [key, offset] of Object.entries(from)) {
                    const partition = Number(key)
                    const range = offsets.find((o) => o.partition === partition)
                    if (!range) {
                      kafkaNotice(
                        `from-missing:${topic}:${partition}`,
                        `Kafka: the checkpoint has a position for ${topic}[${partition}], but ${topic} has only ` +
                          `${offsets.length} partition(s): the topic was probably recreated; ignoring that partition`,
                        true
                      )
                      continue
                    }
                    const low = Number(range.low)
                    const high = Number(range.high)
                    if (offset >= low && offset <= high) {
                      position.set(partition, offset)
                      continue
                    }
                    const target = startingOffsets === "earliest" ? low : high
                    const why = offset > high
                      ? `is past the end of the log (${high}): the topic was probably recreated`
                      : `is before the start of the log (${low}): older messages were deleted by retention`
                    kafkaNotice(
                      `from-oor:${topic}:${partition}`,
                      `Kafka: checkpoint offset ${offset} for ${topic}[${partition}] ${why}; ` +
                        `continuing from the ${policyWords} offset (${target}) per --starting-offsets`,
                      true
                    )
                    position.set(partition, target)
                  }
                }
                let restarts = 0
                while (true) {
                  const error = yield* runConsumer(queue, position)
                  if (isFatalKafkaError(error)) {
                    return yield* Effect.fail(
                      new SourceError({ message: `the Kafka consumer stopped: ${describeKafkaError(error)}`, cause: error })
                    )
                  }
                  const delay = Math.min(5000, 500 * 2 ** Math.min(restarts, 4))
                  restarts++
                  kafkaNotice(
                    `source-crash:${topic}`,
                    `Kafka: the consumer of ${topic} stopped (${describeKafkaError(error)}); restarting in ${delay / 1000}s`
                  )
                  yield* Effect.sleep(delay)
                }
              }),
            { bufferSize: Math.max(1, options.bufferBatches ?? 8), strategy: "suspend" }
          )

        const commit = (position: SourcePosition, epoch: number): Effect.Effect<void, SourceError> =>
          Object.keys(position).length === 0 ? Effect.void : retryKafka(
            async () => {
              const consumer = current
              if (!consumer) return
              const committed = await withAdmin((a) => a.fetchOffsets({ groupId, topics: [topic] }))
              const have = new Map<number, number>()
              for (const p of committed[0]?.partitions ?? []) have.set(p.partition, Number(p.offset))
              const todo = Object.entries(position)
                .filter(([p, next]) => (have.get(Number(p)) ?? -1) < next)
                .map(([p, next]) => ({ topic, partition: Number(p), offset: String(next), metadata: `${EPOCH_MARKER}${epoch}` }))
              if (todo.length > 0) await consumer.commitOffsets(todo)
            },
            { what: `committing offsets of ${topic} for group ${groupId}`, key: `source-commit:${topic}` },
            mkError
          )

        return LineSource.of({
          description: `kafka:${topic}`,
          identity: `kafka:${topic}`,
          live: true,
          onStop: "keep-windows",
          batches,
          commit
        })
      })
    )
}

// ---------------------------------------------------------------------------
// Alert publisher

export interface KafkaAlertPublisherOptions {
  readonly settings: KafkaSettings
  /** The alerts topic. */
  readonly topic: string
  /** The analyzer's consumer group: its offsets are committed in each transaction. */
  readonly groupId: string
  /** The topic the analyzer consumes. */
  readonly sourceTopic: string
  /** Partitions for the alerts topic if it has to be created (default 3). */
  readonly partitions?: number | undefined
}

const EPOCH_MARKER = "loglens-epoch="
const epochOfMetadata = (metadata: string | null | undefined): number | undefined => {
  if (!metadata || !metadata.startsWith(EPOCH_MARKER)) return undefined
  const n = Number(metadata.slice(EPOCH_MARKER.length))
  return Number.isFinite(n) ? n : undefined
}

export const KafkaAlertPublisher = {
  layer: (options: KafkaAlertPublisherOptions): Layer.Layer<AlertPublisher, AlertError> =>
    Layer.effect(
      AlertPublisher,
      Effect.gen(function*() {
        const { settings, topic, groupId, sourceTopic } = options
        const mkError = (message: string, cause: unknown) => new AlertError({ message, cause })
        yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(
          Effect.mapError((e) => new AlertError({ message: e.message, cause: e }))
        )
        const kafka = makeKafka(settings, {}, "alerts")
        const transactionalId = `loglens-${groupId}`
        const admin = kafka.admin()
        let adminConnected = false
        let producer: Producer | undefined

        const getProducer = async (): Promise<Producer> => {
          if (producer) return producer
          const p = kafka.producer({
            transactionalId,
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
            createPartitioner: Partitioners.DefaultPartitioner,
            retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: IDEMPOTENT_RETRIES }
          })
          try {
            await p.connect() // InitProducerId: fences older producers, aborts their open transaction
          } catch (e) {
            await p.disconnect().catch(() => undefined)
            throw e
          }
          producer = p
          return p
        }
        const dropProducer = async () => {
          const p = producer
          producer = undefined
          if (p) await p.disconnect().catch(() => undefined)
        }
        yield* Effect.addFinalizer(() =>
          quietly(dropProducer).pipe(Effect.andThen(quietly(() => admin.disconnect())))
        )

        /** True when the group's offsets show that `epoch`'s transaction committed. */
        const isPublished = async (epoch: number, position: SourcePosition): Promise<boolean> => {
          if (!adminConnected) {
            await admin.connect()
            adminConnected = true
          }
          const committed = await admin.fetchOffsets({ groupId, topics: [sourceTopic] })
          const have = new Map<number, { offset: number; epoch: number | undefined }>()
          for (const p of committed[0]?.partitions ?? []) {
            have.set(p.partition, { offset: Number(p.offset), epoch: epochOfMetadata(p.metadata) })
          }
          for (const [key, next] of Object.entries(position)) {
            const c = have.get(Number(key))
            if (!c || c.offset < next) return false
            if (c.offset === next && !(c.epoch !== undefined && c.epoch >= epoch)) return false
          }
          return true
        }

        const runTransaction = async (epoch: number, alerts: ReadonlyArray<Alert>, position: SourcePosition) => {
          const p = await getProducer()
          const tx = await p.transaction()
          try {
            if (alerts.length > 0) {
              await tx.send({
                topic,
                acks: -1,
                messages: alerts.map((alert) => ({ key: alertKey(alert), value: JSON.stringify(alert) }))
              })
            }
            const partitions = Object.entries(position).map(([partition, next]) => ({
              partition: Number(partition),
              offset: String(next),
              metadata: `${EPOCH_MARKER}${epoch}`
            }))
            if (partitions.length > 0) {
              await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: sourceTopic, partitions }] })
            }
            await tx.commit()
          } catch (e) {
            await tx.abort().catch(() => undefined)
            await dropProducer()
            throw e
          }
        }

        const lock = Semaphore.makeUnsafe(1)
        const publishChecked = (
          epoch: number,
          alerts: ReadonlyArray<Alert>,
          position: SourcePosition,
          checkFirst: boolean
        ): Effect.Effect<void, AlertError> => {
          if (alerts.length === 0 && Object.keys(position).length === 0) return Effect.void
          let attempts = 0
          return Semaphore.withPermit(
            lock,
            retryKafka(
              async () => {
                const check = checkFirst || attempts > 0
                attempts++
                if (check) {
                  // Initialise the transactional producer first: InitProducerId waits until a dead
                  // process's transaction is fully committed or aborted, and only then do the group's
                  // offsets show its outcome (kafkajs's OffsetFetch cannot ask for stable offsets).
                  await getProducer()
                  if (await isPublished(epoch, position)) return
                }
                await runTransaction(epoch, alerts, position)
              },
              { what: `publishing epoch ${epoch} (${alerts.length} alerts) to ${topic}`, key: `alerts:${topic}` },
              mkError
            )
          )
        }

        return AlertPublisher.of({
          description: `kafka:${topic}`,
          publish: (epoch, alerts, position) => publishChecked(epoch, alerts, position, false),
          recover: (epoch, alerts, position) => publishChecked(epoch, alerts, position, true)
        })
      })
    )
}
