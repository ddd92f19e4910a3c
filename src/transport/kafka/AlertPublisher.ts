/**
 * The analyzer's `AlertPublisher` for the Kafka topic `alerts`, exactly once.
 *
 * The analyzer works in epochs. After an epoch's `errors/`, `windows/` and
 * `rejected/` files and its checkpoint (windows, watermark, source position)
 * are durable, it calls `publish(epoch, alerts, position)`. This publisher
 * runs ONE Kafka transaction per epoch, with the transactional id
 * `loglens-<groupId>`:
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
 *   committed offsets and, unless every partition of `position` is committed
 *   at that offset by this epoch's transaction (offset ≥ position and
 *   metadata epoch ≥ epoch), publishes the epoch again.
 * - Crash after the commit: the offsets show the epoch as done; `recover`
 *   publishes nothing.
 * - A failed attempt (broker down, coordinator moved, commit timed out with
 *   an unknown outcome) aborts the transaction, drops the producer, and before
 *   retrying checks the committed offsets as `recover` does, so a commit that
 *   did land is never repeated. Retries use the shared backoff, forever,
 *   unless the error is fatal.
 * - Fenced (another producer took the transactional id): fatal. There is one
 *   analyzer per consumer group; the layer waits at start-up until the group
 *   is free and refuses to start beside a live analyzer (`Admin.ts`), so a
 *   fence means another one started anyway, and this one stops rather than
 *   fence it back.
 *
 * The source's own offset commit (`Source.ts`) carries the same epoch
 * marker. Its view of the offsets may predate the transaction's (the group
 * coordinator applies them when the commit marker lands), so it can
 * overwrite them at the same offset: the marker keeps saying the epoch is
 * out. A commit without the marker (another client) counts as "not
 * published yet".
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import { Partitioners, type Producer } from "kafkajs"
import { type Alert, alertKey } from "../../domain/Alert.ts"
import { AlertError, AlertPublisher } from "../../sinks/AlertPublisher.ts"
import type { SourcePosition } from "../LineSource.ts"
import { awaitGroupFree, committedOffsets, ensureTopics, epochMetadata, failWhenTopicGone, scopedAdmin } from "./Admin.ts"
import type { KafkaError } from "./Errors.ts"
import { makeNotices } from "./Notices.ts"
import { quietly, retryKafka } from "./Retry.ts"
import { IDEMPOTENT_RETRY, type KafkaSettings, makeKafka } from "./Settings.ts"

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

export const KafkaAlertPublisher = {
  layer: (options: KafkaAlertPublisherOptions): Layer.Layer<AlertPublisher, AlertError> =>
    Layer.effect(
      AlertPublisher,
      Effect.gen(function*() {
        const { settings, topic, groupId, sourceTopic } = options
        const transactionalId = `loglens-${groupId}`
        const toAlertError = (e: KafkaError) =>
          new AlertError({
            message: e.reason === "ProducerFenced"
              ? `another analyzer took over transactional id ${transactionalId} (${e.message}): ` +
                `one analyzer per --group-id, so this one stops. Give each analyzer its own --group-id.`
              : e.message,
            cause: e
          })
        yield* ensureTopics(settings, [topic], options.partitions ?? 3).pipe(Effect.mapError(toAlertError))
        // Before the transactional producer exists: it would fence a live analyzer of the same group.
        yield* awaitGroupFree(settings, groupId).pipe(Effect.mapError(toAlertError))
        const notices = yield* makeNotices
        const kafka = makeKafka(settings, notices, "alerts")
        const admin = yield* scopedAdmin(kafka)
        let producer: Producer | undefined

        const getProducer = async (): Promise<Producer> => {
          if (producer) return producer
          const p = kafka.producer({
            transactionalId,
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
            createPartitioner: Partitioners.DefaultPartitioner,
            retry: IDEMPOTENT_RETRY
          })
          try {
            await p.connect()
            // kafkajs sends the transactional InitProducerId at a producer's first transaction, not at
            // connect: an empty one (aborted without a request) makes it happen now. It fences older
            // producers of this id, aborts their open transaction, and waits while one is completing.
            await (await p.transaction()).abort()
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
        yield* Effect.addFinalizer(() => quietly(dropProducer))

        /** True when the group's offsets show that `epoch`'s transaction committed. */
        const isPublished = async (epoch: number, position: SourcePosition): Promise<boolean> => {
          const have = await admin.use((a) => committedOffsets(a, groupId, sourceTopic))
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
              metadata: epochMetadata(epoch)
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
        /** Once fenced, always fenced: a new producer would fence the analyzer that took over. */
        let fenced: KafkaError | undefined
        const publishChecked = (
          epoch: number,
          alerts: ReadonlyArray<Alert>,
          position: SourcePosition,
          checkFirst: boolean
        ): Effect.Effect<void, AlertError> => {
          if (alerts.length === 0 && Object.keys(position).length === 0) return Effect.void
          let attempts = 0
          const attempt = retryKafka(
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
            { what: `publishing epoch ${epoch} (${alerts.length} alerts) to ${topic}`, key: `alerts:${topic}`, notices }
          ).pipe(
            failWhenTopicGone(admin, topic),
            Effect.tapError((e) => Effect.sync(() => void (fenced ??= e.reason === "ProducerFenced" ? e : undefined)))
          )
          return Semaphore.withPermit(lock, Effect.suspend(() => fenced ? Effect.fail(fenced) : attempt)).pipe(
            Effect.mapError(toAlertError)
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
