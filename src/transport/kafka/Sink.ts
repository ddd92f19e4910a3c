/**
 * The generator's `LineSink` over a Kafka topic.
 *
 * An idempotent producer (acks=-1, one request in flight) sends each
 * `write(lines)` sequentially, in as few requests as the topic's record size
 * limit (max.message.bytes, per partition batch) allows. Partitions are
 * assigned by us, round-robin, once per line, so a retry resends exactly the
 * same per-partition batches with the same sequence numbers and the broker
 * drops any copy it already has. Outages are retried with the shared backoff
 * by the same producer, forever. A fatal error (`Errors.ts`: a line too
 * large for the topic, a denied permission…) ends the generator with its
 * message. Only if the producer's idempotence state itself is lost (reasons
 * `ProducerState` and, since this producer has no transactional id that
 * another process could take, `ProducerFenced`) is the producer recreated;
 * that batch may then be duplicated once, and a notice says so.
 */
// Before kafkajs loads: loglens replaces some of its modules (see Kafkajs.ts).
import "./Kafkajs.ts"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import { Partitioners, type Producer } from "kafkajs"
import { LineSink, SinkError } from "../LineSink.ts"
import { ensureTopics, failWhenTopicGone, scopedAdmin } from "./Admin.ts"
import type { KafkaError } from "./Errors.ts"
import { makeNotices } from "./Notices.ts"
import { quietly, retryKafka } from "./Retry.ts"
import { IDEMPOTENT_RETRY, type KafkaSettings, makeKafka } from "./Settings.ts"

export interface KafkaLineSinkOptions {
  readonly settings: KafkaSettings
  readonly topic: string
  /** Partitions for the topic if it has to be created (default 3). */
  readonly partitions?: number | undefined
}

/** At most this much per partition batch, below the broker's default max.message.bytes (~1 MiB). */
const MAX_BATCH_BYTES_PER_PARTITION = 768 * 1024
/** A record batch's header, and each record's own framing, in bytes (generous). */
const BATCH_OVERHEAD_BYTES = 70
const RECORD_OVERHEAD_BYTES = 32

export const KafkaLineSink = {
  layer: (options: KafkaLineSinkOptions): Layer.Layer<LineSink, SinkError> =>
    Layer.effect(
      LineSink,
      Effect.gen(function*() {
        const { settings, topic } = options
        const toSinkError = (e: KafkaError) => new SinkError({ message: e.message, cause: e })
        const info = (yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(Effect.mapError(toSinkError)))
          .get(topic)
        const partitionCount = Math.max(1, info?.partitions ?? options.partitions ?? 3)
        const batchLimit = Math.max(
          1,
          Math.min(MAX_BATCH_BYTES_PER_PARTITION, (info?.maxMessageBytes ?? Infinity) - BATCH_OVERHEAD_BYTES)
        )
        const notices = yield* makeNotices
        const kafka = makeKafka(settings, notices, "generator")
        const admin = yield* scopedAdmin(kafka)
        const newProducer = () =>
          kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
            createPartitioner: Partitioners.DefaultPartitioner,
            retry: IDEMPOTENT_RETRY
          })
        let producer: Producer = newProducer()
        let connected = false
        yield* Effect.addFinalizer(() => quietly(() => producer.disconnect()))

        const ensureConnected = async () => {
          if (!connected) {
            await producer.connect()
            connected = true
          }
        }
        yield* retryKafka(ensureConnected, {
          what: `connecting the producer for ${topic}`,
          key: `sink-connect:${topic}`,
          notices
        }).pipe(Effect.mapError(toSinkError))

        /** The idempotence state is gone: a new producer, and the batch may appear twice. */
        const replaceProducer = (error: KafkaError, lines: number) =>
          error.reason === "ProducerState" || error.reason === "ProducerFenced"
            ? Effect.andThen(
              Effect.sync(() => {
                notices.notice(
                  `sink-reset:${topic}`,
                  `Kafka: the producer lost its idempotence state (${error.message}); starting a new one. ` +
                    `The ${lines} lines being sent may appear twice in ${topic}.`,
                  true
                )
              }),
              Effect.suspend(() => {
                const old = producer
                producer = newProducer()
                connected = false
                return quietly(() => old.disconnect())
              })
            )
            : Effect.void

        const sendChunk = (messages: Array<{ value: string; partition: number }>) =>
          retryKafka(
            async () => {
              await ensureConnected()
              await producer.send({ topic, acks: -1, messages })
            },
            {
              what: `sending ${messages.length} lines to ${topic}`,
              key: `sink-send:${topic}`,
              notices,
              onFailure: (error) => replaceProducer(error, messages.length)
            }
          ).pipe(failWhenTopicGone(admin, topic), Effect.mapError(toSinkError))

        let next = Math.floor(Math.random() * partitionCount)
        const lock = Semaphore.makeUnsafe(1)
        const write = (lines: ReadonlyArray<string>): Effect.Effect<void, SinkError> =>
          lines.length === 0 ? Effect.void : Semaphore.withPermit(
            lock,
            Effect.gen(function*() {
              let chunk: Array<{ value: string; partition: number }> = []
              const bytes = new Array<number>(partitionCount).fill(0)
              for (const line of lines) {
                const size = Buffer.byteLength(line) + RECORD_OVERHEAD_BYTES
                if (chunk.length > 0 && bytes[next]! + size > batchLimit) {
                  yield* sendChunk(chunk)
                  chunk = []
                  bytes.fill(0)
                }
                chunk.push({ value: line, partition: next })
                bytes[next] = bytes[next]! + size
                next = next + 1 === partitionCount ? 0 : next + 1
              }
              if (chunk.length > 0) yield* sendChunk(chunk)
            })
          )

        return LineSink.of({ description: `kafka:${topic}`, write })
      })
    )
}
