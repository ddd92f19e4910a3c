/**
 * One consumer group reading one topic, where every partition a member owns
 * is worked on alone and committed in its own Kafka transaction: production
 * mode's two stages both run on this (see `PartitionReader.ts` and
 * `WindowWriter.ts`).
 *
 * For each partition p the group assigns to this process:
 *
 *   1. fence: a transactional producer with p's own id (kafkajs has no
 *      KIP-447, so one id per partition) is initialised. Kafka aborts the
 *      open transaction of any earlier owner of p and waits while one is
 *      committing; from then on that owner cannot commit for p;
 *   2. only then read p's committed offset and its metadata, and hand them to
 *      the owner (`recover`), which rebuilds p's state and says where to read;
 *   3. read p from there (`take`); messages before it are dropped, a gap makes
 *      the consumer seek back;
 *   4. every commit interval, one transaction (`epoch`): the owner's messages,
 *      plus p's next offset for the group with the owner's metadata; after the
 *      commit the owner publishes its part files, after a failure it discards
 *      them and p starts over at step 1.
 *
 * A partition whose producer was fenced (another process owns p now) is not
 * taken up again before the group assigns it anew: two owners never fence
 * each other in turn. A process that could not heartbeat for a session
 * timeout (frozen, SIGSTOP) assumes it lost everything and commits nothing
 * until the group has it back. Membership, assignment and liveness are the
 * consumer group's; nothing here elects or coordinates.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type { Consumer, Kafka, KafkaMessage, Message, Producer } from "kafkajs"
import { type AdminClient, type PartitionRange, partitionRanges } from "./Admin.ts"
import { StoreError } from "../../sinks/StoreError.ts"
import { isFatal, KafkaError, kafkaError } from "./Errors.ts"
import type { KafkaNotices } from "./Notices.ts"
import { quietly, retryKafka } from "./Retry.ts"
import { HEARTBEAT_INTERVAL_MS, IDEMPOTENT_RETRY, SESSION_TIMEOUT_MS } from "./Settings.ts"

/** Runs an owner's Effect from kafkajs's callbacks: resolves with its value, rejects with its typed error. */
export const runEffect = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/** What ends the run: a Kafka failure retrying cannot fix, or an output that cannot be written. */
export type OwnedPartitionsError = KafkaError | StoreError

const asFailure = (what: string, e: unknown): OwnedPartitionsError =>
  e instanceof StoreError || e instanceof KafkaError ? e : kafkaError(what, e)

/** How many fetched messages may wait for their owners before kafkajs is held back. */
const MAX_QUEUED_MESSAGES = 50_000

/**
 * The least time between two early commits of a partition (`PartitionOwner.urgent`): soon enough for
 * an alert (bench figure 8b), and not a transaction per fetch while a cell is near the threshold.
 */
const URGENT_SPACING_MS = 200

/** A partition's committed offset and the metadata its last transaction wrote. */
export interface Committed {
  readonly offset: number
  readonly metadata: string | null
}

/** What one epoch of a partition commits. */
export interface EpochWork {
  /** Sent in the transaction, each with its partition set. */
  readonly messages: ReadonlyArray<{ readonly topic: string; readonly messages: Array<Message> }>
  /** Offset metadata committed with the partition's next offset. */
  readonly metadata: string
  /** The transaction committed: publish what it names. */
  readonly committed: () => Promise<void>
  /** It did not: delete what was prepared for it. */
  readonly aborted: () => Promise<void>
}

export interface PartitionOwner<S> {
  /** After the fence: the partition's state, and the offset to read from. */
  readonly recover: (partition: number, committed: Committed | undefined, range: PartitionRange) => Promise<{ state: S; from: number }>
  /** The partition's next messages, in offset order, none skipped. */
  readonly take: (state: S, messages: ReadonlyArray<KafkaMessage>, highWatermark: number) => Promise<void>
  /** After `take`: commit now rather than at the next commit interval (an alert is, or may be, due). */
  readonly urgent: (state: S) => boolean
  /** The epoch's work, or undefined when there is nothing to commit; `next`: the next offset to read. */
  readonly epoch: (state: S, next: number) => Promise<EpochWork | undefined>
  /** The partition is gone from this process (revoked, fenced, failed): forget its uncommitted work. */
  readonly dropped: (state: S) => Promise<void>
}

export interface OwnedPartitionsOptions<S> {
  readonly kafka: Kafka
  readonly admin: AdminClient
  readonly topic: string
  readonly groupId: string
  readonly transactionalIdOf: (partition: number) => string
  readonly owner: PartitionOwner<S>
  readonly commitIntervalMs: number
  readonly notices: KafkaNotices
  /** For messages: "reading http-logs", "merging the partial aggregates". */
  readonly what: string
  /** Where kafkajs starts a partition that has no committed offset; `recover` seeks anyway. */
  readonly fromBeginning: boolean
  /** Fetch limits (kafkajs's defaults when left out). */
  readonly fetch?: { readonly maxBytesPerPartition?: number; readonly maxBytes?: number } | undefined
}

interface Slot<S> {
  readonly partition: number
  /** The latest group generation that assigned it to this process. */
  generation: number
  status: "recovering" | "ready" | "lost"
  /** When it was lost (fenced, or this process missed its heartbeats). */
  lostAt: number
  state: S | undefined
  producer: Producer | undefined
  /** The next offset to hand to the owner: everything before it is in its state. */
  next: number
  /** The next offset to queue: fetched batches wait in `pending` until the owner takes them. */
  queued: number
  pending: Array<{ readonly messages: ReadonlyArray<KafkaMessage>; readonly highWatermark: number }>
  /** Serialises `take` and `epoch` of this partition. */
  lock: Promise<unknown>
  /** When its last early commit started, and whether the next one waits for its turn. */
  urgentAt: number
  urgentPending: boolean
}

const withLock = <S, A>(slot: Slot<S>, f: () => Promise<A>): Promise<A> => {
  const run = slot.lock.then(f, f)
  slot.lock = run.catch(() => undefined)
  return run
}

/** Runs until a fatal error (or interruption, after a last epoch of every ready partition). */
export const runOwnedPartitions = <S>(
  options: OwnedPartitionsOptions<S>
): Effect.Effect<never, OwnedPartitionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const { kafka, admin, topic, groupId, owner, notices } = options
    const runPromise = yield* FiberSet.makeRuntimePromise<never, unknown, KafkaError>()
    const slots = new Map<number, Slot<S>>()
    let generation = 0
    let lastHeartbeatAt = Date.now()
    let fail: (e: OwnedPartitionsError) => void = () => undefined
    const failed = new Promise<OwnedPartitionsError>((resolve) => {
      fail = resolve
    })
    const fatal = (e: unknown) => fail(asFailure(options.what, e))
    let stopping = false
    /** Fetched messages waiting for their owners, in all partitions: kafkajs fetches on while the owners work. */
    let queuedMessages = 0
    let fetcherWaits: Array<() => void> = []
    const wakeFetcher = () => {
      if (queuedMessages > MAX_QUEUED_MESSAGES && !stopping) return
      const waiting = fetcherWaits
      fetcherWaits = []
      for (const wake of waiting) wake()
    }
    let taking = false
    /** Hands the queued batches to their owners, a batch per partition in turn, in offset order within each. */
    const takeQueued = async () => {
      if (taking) return
      taking = true
      try {
        for (let progress = true; progress;) {
          progress = false
          for (const slot of [...slots.values()]) {
            const item = slot.pending.shift()
            if (item === undefined) continue
            progress = true
            queuedMessages -= item.messages.length
            await withLock(slot, async () => {
              if (slot.status !== "ready" || slot.state === undefined) return
              await owner.take(slot.state, item.messages, item.highWatermark)
              slot.next = Number(item.messages[item.messages.length - 1]!.offset) + 1
            })
            wakeFetcher()
            if (slot.state !== undefined && owner.urgent(slot.state)) commitEarly(slot)
          }
        }
      } catch (e) {
        fatal(e)
      } finally {
        taking = false
      }
    }

    const consumer: Consumer = kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: 20_000,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: 500,
      readUncommitted: false,
      ...options.fetch,
      retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 }
    })

    const dropSlot = async (slot: Slot<S>, status: "lost" | "gone") => {
      const { state, producer } = slot
      slot.state = undefined
      slot.producer = undefined
      for (const item of slot.pending) queuedMessages -= item.messages.length
      slot.pending = []
      wakeFetcher()
      if (status === "gone") slots.delete(slot.partition)
      else {
        slot.status = "lost"
        slot.lostAt = Date.now()
      }
      if (state !== undefined) await owner.dropped(state).catch(() => undefined)
      if (producer !== undefined) await producer.disconnect().catch(() => undefined)
    }

    /** Has this process missed its heartbeats for a session? Then the group has moved on without it. */
    const expelled = () => Date.now() - lastHeartbeatAt > SESSION_TIMEOUT_MS

    const recover = (slot: Slot<S>): Promise<void> =>
      runPromise(retryKafka(
        async () => {
          if (slots.get(slot.partition) !== slot || slot.status !== "recovering" || stopping) return
          const producer = kafka.producer({
            transactionalId: options.transactionalIdOf(slot.partition),
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
            retry: IDEMPOTENT_RETRY
          })
          try {
            await producer.connect()
            // kafkajs sends InitProducerId at a producer's first transaction: an empty one (aborted
            // without a request) fences every earlier producer of this id now, before any offset is read.
            await (await producer.transaction()).abort()
            const [fetched] = await admin.use((a) => a.fetchOffsets({ groupId, topics: [topic] }))
            const found = fetched?.partitions.find((p) => p.partition === slot.partition)
            const committed = found !== undefined && Number(found.offset) >= 0
              ? { offset: Number(found.offset), metadata: found.metadata ?? null }
              : undefined
            const range = (await admin.use((a) => partitionRanges(a, topic))).find((r) => r.partition === slot.partition) ??
              { partition: slot.partition, low: 0, high: 0 }
            let recovered: { state: S; from: number }
            try {
              recovered = await owner.recover(slot.partition, committed, range)
            } catch (e) {
              if (e instanceof StoreError) {
                fatal(e)
                return
              }
              throw e
            }
            const { state, from } = recovered
            if (slots.get(slot.partition) !== slot || slot.status !== "recovering") {
              await owner.dropped(state)
              await producer.disconnect().catch(() => undefined)
              return
            }
            slot.state = state
            slot.producer = producer
            slot.next = from
            slot.queued = from
            slot.status = "ready"
            consumer.seek({ topic, partition: slot.partition, offset: String(from) })
            consumer.resume([{ topic, partitions: [slot.partition] }])
          } catch (e) {
            await producer.disconnect().catch(() => undefined)
            throw e
          }
        },
        { what: `${options.what}: taking over ${topic}[${slot.partition}]`, key: `own:${topic}:${slot.partition}`, notices }
      )).then(() => undefined, fatal)

    const assign = (partitions: ReadonlyArray<number>) => {
      generation++
      lastHeartbeatAt = Date.now()
      const assigned = new Set(partitions)
      for (const slot of [...slots.values()]) {
        if (!assigned.has(slot.partition)) void withLock(slot, () => dropSlot(slot, "gone"))
      }
      for (const partition of assigned) {
        const slot = slots.get(partition)
        if (slot !== undefined && slot.status === "ready") {
          // Kept across the rebalance: the consumer would restart it at the committed offset.
          slot.generation = generation
          consumer.seek({ topic, partition, offset: String(slot.queued) })
          continue
        }
        if (slot !== undefined && slot.status === "recovering") {
          slot.generation = generation
          continue
        }
        // Not fetched before it is recovered: kafkajs would otherwise start it at the committed offset on
        // its own, and reset (and commit) one outside the log before `recover` could say so.
        consumer.pause([{ topic, partitions: [partition] }])
        const fresh: Slot<S> = {
          partition, generation, status: "recovering", lostAt: 0, state: undefined, producer: undefined, next: 0,
          queued: 0, pending: [], lock: Promise.resolve(), urgentAt: -Infinity, urgentPending: false
        }
        slots.set(partition, fresh)
        void recover(fresh)
      }
    }

    const dropAll = async () => {
      for (const slot of [...slots.values()]) await withLock(slot, () => dropSlot(slot, "lost"))
    }

    /** One epoch of a ready partition: its transaction, then its files; a failure starts it over. */
    const commitSlot = (slot: Slot<S>): Promise<void> =>
      withLock(slot, async () => {
        if (slot.status !== "ready" || slot.state === undefined || slot.producer === undefined) return
        if (expelled() && !stopping) return
        const work = await owner.epoch(slot.state, slot.next)
        if (work === undefined) return
        const producer = slot.producer
        let tx: Awaited<ReturnType<Producer["transaction"]>> | undefined
        try {
          tx = await producer.transaction()
          for (const batch of work.messages) {
            if (batch.messages.length > 0) await tx.send({ topic: batch.topic, acks: -1, messages: batch.messages })
          }
          // kafkajs writes each partition's `metadata` into TxnOffsetCommit; its types leave it out.
          const partitions = [{ partition: slot.partition, offset: String(slot.next), metadata: work.metadata }]
          await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions }] })
          await tx.commit()
        } catch (e) {
          await tx?.abort().catch(() => undefined)
          await work.aborted().catch(() => undefined)
          const error = kafkaError(`${options.what}: committing ${topic}[${slot.partition}]`, e)
          await dropSlot(slot, "lost")
          consumer.pause([{ topic, partitions: [slot.partition] }])
          if (error.reason === "ProducerFenced") {
            notices.notice(
              `fenced:${topic}:${slot.partition}`,
              `loglens: ${topic}[${slot.partition}] is another analyzer's now (this one was fenced); ` +
                `its uncommitted work is left to that one`,
              true
            )
            return
          }
          if (isFatal(error)) return fatal(error)
          notices.notice(`commit:${topic}:${slot.partition}`, `${error.message}; taking ${topic}[${slot.partition}] over again`)
          // Not fenced: this process still owns it, so it starts over from the committed offset.
          if (slots.get(slot.partition) === slot && slot.generation === generation) {
            slot.status = "recovering"
            void recover(slot)
          }
          return
        }
        await work.committed()
      })

    /** Commits `slot` now, or once URGENT_SPACING_MS have passed since its last early commit. */
    const commitEarly = (slot: Slot<S>): void => {
      if (slot.urgentPending) return
      const wait = slot.urgentAt + URGENT_SPACING_MS - Date.now()
      const commit = () => {
        slot.urgentPending = false
        // Stopping: the last epoch of every partition commits what this one would have.
        if (stopping) return
        slot.urgentAt = Date.now()
        void commitSlot(slot).catch(fatal)
      }
      if (wait <= 0) return commit()
      slot.urgentPending = true
      setTimeout(commit, wait)
    }

    const epochs = async () => {
      while (!stopping) {
        await new Promise((resolve) => setTimeout(resolve, options.commitIntervalMs))
        if (stopping) return
        if (expelled()) {
          const held = [...slots.values()].filter((slot) => slot.status === "ready").map((slot) => slot.partition)
          if (held.length > 0) {
            notices.notice(
              `expelled:${groupId}`,
              `loglens: no heartbeat reached consumer group ${groupId} for over ${SESSION_TIMEOUT_MS / 1000}s (was this ` +
                `process frozen or starved?): ${topic}[${held.join(",")}] may be another analyzer's now, so this one ` +
                `commits nothing for them and reads on with what the group gives it`,
              true
            )
          }
          await dropAll()
          continue
        }
        // Normally the group soon gives a lost partition to its new owner (and this process a new generation).
        // Still ours a while later in the same generation (another member owned it between two of our
        // joins, or our session outlived a stall): take it over again.
        for (const slot of slots.values()) {
          if (slot.status === "lost" && slot.generation === generation && Date.now() - slot.lostAt > 2 * SESSION_TIMEOUT_MS) {
            slot.status = "recovering"
            consumer.pause([{ topic, partitions: [slot.partition] }])
            void recover(slot)
          }
        }
        await Promise.all([...slots.values()].map(commitSlot)).catch(fatal)
      }
    }

    consumer.on(consumer.events.GROUP_JOIN, (event) => assign(event.payload.memberAssignment[topic] ?? []))
    consumer.on(consumer.events.HEARTBEAT, () => {
      lastHeartbeatAt = Date.now()
    })
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) fatal(kafkaError(options.what, event.payload.error))
    })

    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        stopping = true
        wakeFetcher()
        // A last epoch: what was read is committed, so whoever reads on starts after it.
        await Promise.all([...slots.values()].map(commitSlot)).catch(() => undefined)
      }).pipe(
        Effect.andThen(quietly(() => consumer.disconnect(), 30_000)),
        // The states stay for the final report; the last epoch left nothing uncommitted to discard.
        Effect.andThen(Effect.promise(async () => {
          for (const slot of slots.values()) await slot.producer?.disconnect().catch(() => undefined)
        }))
      )
    )

    yield* retryKafka(() => consumer.connect(), { what: `${options.what}: connecting`, key: `own-connect:${groupId}`, notices })
    yield* retryKafka(() => consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning }), {
      what: `${options.what}: subscribing to ${topic}`,
      key: `own-subscribe:${groupId}`,
      notices
    })
    yield* Effect.tryPromise({
      try: () =>
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: async ({ batch, resolveOffset, heartbeat, isStale }) => {
            const slot = slots.get(batch.partition)
            if (slot === undefined || slot.status !== "ready" || expelled() || stopping) return
            // Fetched before the seek of a recovery: kafkajs reads again from the seek's offset.
            // Offsets past `next` are otherwise normal: transaction markers take offsets too.
            if (isStale()) return
            const messages = batch.messages
            let from = 0
            while (from < messages.length && Number(messages[from]!.offset) < slot.queued) from++
            if (from === messages.length) return
            const taken = from === 0 ? messages : messages.slice(from)
            const last = Number(taken[taken.length - 1]!.offset)
            slot.pending.push({ messages: taken, highWatermark: Number(batch.highWatermark) })
            slot.queued = last + 1
            queuedMessages += taken.length
            resolveOffset(String(last))
            void takeQueued()
            // Back-pressure: kafkajs fetches on while the owners are at most this far behind.
            while (queuedMessages > MAX_QUEUED_MESSAGES && !stopping) {
              await new Promise<void>((resolve) => fetcherWaits.push(resolve))
              await heartbeat().catch(() => undefined)
            }
            await heartbeat().catch(() => undefined)
          }
        }),
      catch: (e) => kafkaError(`${options.what}: starting the consumer`, e)
    })
    void epochs()
    const error = yield* Effect.promise(() => failed)
    return yield* Effect.fail(error)
  })
