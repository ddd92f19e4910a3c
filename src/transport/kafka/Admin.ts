/**
 * What the layers ask the cluster rather than read from it: topics (created
 * at start-up when missing, with their partition count and record size
 * limit), each partition's offset range, and the consumer groups (`--clean`'s
 * reset, which refuses to run while an analyzer is still in a group).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Admin, ConfigResourceTypes, Kafka } from "kafkajs"
import { KafkaError, kafkaErrorTypes } from "./Errors.ts"
import { type KafkaNotices, makeNotices } from "./Notices.ts"
import { quietly, retryKafka } from "./Retry.ts"
import { checkKafkaSettings, checkTopicNames, type KafkaSettings, makeKafka, SESSION_TIMEOUT_MS } from "./Settings.ts"

/** An admin client that connects on first use and disconnects with its scope. */
export interface AdminClient {
  readonly use: <A>(f: (admin: Admin) => Promise<A>) => Promise<A>
}

export const scopedAdmin = (kafka: Kafka): Effect.Effect<AdminClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const admin = kafka.admin()
    let connected: Promise<void> | undefined
    let isConnected = false
    yield* Effect.addFinalizer(() => {
      const pending = connected
      if (pending === undefined) return Effect.void
      if (isConnected) return quietly(() => admin.disconnect())
      // A connect still under way (kafkajs retries it through an outage, and an interrupted check leaves
      // it running) opens its socket even after a disconnect made now, and that socket would keep the
      // process alive: disconnect once it has connected, without holding up the end of the scope.
      void pending.then(() => admin.disconnect()).catch(() => undefined)
      return Effect.void
    })
    return {
      use: async (f) => {
        connected ??= admin.connect().then(
          () => void (isConnected = true),
          (e) => {
            connected = undefined
            throw e
          }
        )
        await connected
        return f(admin)
      }
    }
  })

/** Runs `use` with a fresh admin client of its own (and its own notices), then disconnects. */
const withAdmin = <A>(
  settings: KafkaSettings,
  use: (admin: AdminClient, notices: KafkaNotices) => Effect.Effect<A, KafkaError>
): Effect.Effect<A, KafkaError> =>
  Effect.scoped(Effect.gen(function*() {
    yield* checkKafkaSettings(settings)
    const notices = yield* makeNotices
    const admin = yield* scopedAdmin(makeKafka(settings, notices, "admin"))
    return yield* use(admin, notices)
  }))

// ---------------------------------------------------------------------------
// Topics

export interface TopicInfo {
  readonly partitions: number
  /** The topic's max.message.bytes: the largest record batch the broker accepts. */
  readonly maxMessageBytes: number | undefined
}

/**
 * Creates the missing topics with `partitions` partitions (replication 3 when
 * the cluster has 3+ brokers, else 1). Existing topics are left as they are;
 * returns each topic's actual partition count and record size limit.
 * Illegal names are refused before the broker is asked.
 */
export const ensureTopics = (
  settings: KafkaSettings,
  topics: ReadonlyArray<string>,
  partitions = 3
): Effect.Effect<ReadonlyMap<string, TopicInfo>, KafkaError> =>
  Effect.andThen(
    checkTopicNames(topics),
    withAdmin(settings, (admin, notices) =>
      Effect.gen(function*() {
        const cluster = yield* retryKafka(
          () => admin.use((a) => a.describeCluster()),
          { what: "describing the Kafka cluster", key: "admin-describe", notices }
        )
        const replicationFactor = cluster.brokers.length >= 3 ? 3 : 1
        const existing = new Set(
          yield* retryKafka(() => admin.use((a) => a.listTopics()), { what: "listing topics", key: "admin-list", notices })
        )
        const wanted = [...new Set(topics)]
        const missing = wanted.filter((t) => !existing.has(t))
        if (missing.length > 0) {
          yield* retryKafka(
            () =>
              admin.use(async (a) => {
                try {
                  await a.createTopics({
                    waitForLeaders: true,
                    topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor }))
                  })
                } catch (e) {
                  // Another process created it first: fine.
                  const types = kafkaErrorTypes(e)
                  if (types.length > 0 && types.every((t) => t === "TOPIC_ALREADY_EXISTS")) return
                  throw e
                }
              }),
            { what: `creating topic(s) ${missing.join(", ")}`, key: "admin-create", notices }
          )
        }
        const info = new Map<string, TopicInfo>()
        for (const topic of wanted) {
          const ranges = yield* retryKafka(
            () => admin.use((a) => partitionRanges(a, topic)),
            { what: `reading the partitions of ${topic}`, key: `admin-offsets:${topic}`, notices }
          )
          const maxMessageBytes = yield* retryKafka(
            () => admin.use((a) => topicMaxMessageBytes(a, topic)),
            { what: `reading the configuration of ${topic}`, key: `admin-config:${topic}`, notices }
          )
          info.set(topic, { partitions: ranges.length, maxMessageBytes })
        }
        return info
      })
    )
  )

/** `ConfigResourceTypes.TOPIC`: kafkajs's CommonJS enum is not a named export Node's ESM loader can see. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes.TOPIC

const topicMaxMessageBytes = async (admin: Admin, topic: string): Promise<number | undefined> => {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ["max.message.bytes"] }]
  })
  const value = described.resources[0]?.configEntries.find((c) => c.configName === "max.message.bytes")?.configValue
  const n = Number(value)
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined
}

/** How often a send that takes long checks whether its topic still exists. */
const TOPIC_CHECK_INTERVAL = Duration.seconds(10)

/**
 * Fails `self` with reason `UnknownTopic` if `topic` is deleted while it runs.
 * The producers' sends retry inside kafkajs for as long as the broker is
 * unreachable (their idempotence needs it), which would include a topic that
 * no longer exists, forever: a send that takes long asks the cluster.
 */
export const failWhenTopicGone = (admin: AdminClient, topic: string) =>
<A, R>(self: Effect.Effect<A, KafkaError, R>): Effect.Effect<A, KafkaError, R> => {
  const exists = Effect.tryPromise(() => admin.use((a) => a.listTopics())).pipe(
    Effect.map((topics) => topics.includes(topic)),
    Effect.orElseSucceed(() => true) // cannot tell: the send's own retries speak for the outage
  )
  const gone = exists.pipe(
    Effect.delay(TOPIC_CHECK_INTERVAL),
    Effect.repeat({ schedule: Schedule.spaced(TOPIC_CHECK_INTERVAL), while: (present) => present }),
    Effect.andThen(Effect.fail(
      new KafkaError({
        reason: "UnknownTopic",
        message: `topic ${topic} does not exist any more (it was deleted while loglens was using it), and loglens ` +
          `does not let the broker create topics on the fly: create it again, or restart loglens, which creates missing topics`
      })
    ))
  )
  return Effect.raceFirst(self, gone)
}

// ---------------------------------------------------------------------------
// Offsets

export interface PartitionRange {
  readonly partition: number
  /** The first offset still in the log. */
  readonly low: number
  /** The end of the log: the offset the next message will get. */
  readonly high: number
}

/** Every partition of `topic` with its offset range, by partition. */
export const partitionRanges = async (admin: Admin, topic: string): Promise<Array<PartitionRange>> =>
  (await admin.fetchTopicOffsets(topic))
    .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
    .sort((a, b) => a.partition - b.partition)

// ---------------------------------------------------------------------------
// The consumer group

/** How long past a session timeout a killed member may take to disappear from the group. */
const SESSION_GRACE = Duration.seconds(3)

const members = (admin: AdminClient, groupId: string, notices: KafkaNotices) =>
  retryKafka(
    () => admin.use(async (a) => (await a.describeGroups([groupId])).groups[0]?.members ?? []),
    { what: `describing consumer group ${groupId}`, key: `admin-group:${groupId}`, notices }
  )

/**
 * Returns once consumer group `groupId` has no member; fails with reason
 * `SecondAnalyzer` if it still has one after a session timeout (and a grace):
 * then an analyzer is alive in it (it heartbeats). A member that vanishes
 * within that time was a killed analyzer whose session expired.
 */
const awaitGroupFree = (settings: KafkaSettings, groupId: string): Effect.Effect<void, KafkaError> =>
  withAdmin(settings, (admin, notices) =>
    Effect.gen(function*() {
      let seen = yield* members(admin, groupId, notices)
      if (seen.length === 0) return
      const wait = Duration.sum(Duration.millis(SESSION_TIMEOUT_MS), SESSION_GRACE)
      notices.notice(
        `group-busy:${groupId}`,
        `loglens: consumer group "${groupId}" still has a member (${describeMembers(seen)}); waiting up to ` +
          `${Duration.toSeconds(wait)}s for it to leave, or for its session to expire if it was killed`,
        true
      )
      const free = yield* members(admin, groupId, notices).pipe(
        Effect.tap((now) => Effect.sync(() => void (seen = now.length > 0 ? now : seen))),
        Effect.repeat({ schedule: Schedule.spaced("500 millis"), while: (now) => now.length > 0 }),
        Effect.timeoutOption(wait)
      )
      if (Option.isNone(free)) {
        return yield* new KafkaError({
          reason: "SecondAnalyzer",
          message: `consumer group "${groupId}" has a live member (${describeMembers(seen)})`
        })
      }
    })
  )

const describeMembers = (ms: ReadonlyArray<{ clientId: string; clientHost: string }>): string =>
  ms.map((m) => `${m.clientId} on ${m.clientHost.replace(/^\//, "")}`).join(", ")

/**
 * `analyze --clean` in production mode: forgets the consumer groups' committed
 * offsets (and the state their metadata carries) and deletes the internal
 * topic, so the analysis starts over from `--starting-offsets`. A group with a
 * running analyzer is not reset; a killed one's member is waited out first.
 */
export const resetAnalyzerGroup = (
  settings: KafkaSettings,
  target: { readonly groups: ReadonlyArray<string>; readonly internalTopic: string }
): Effect.Effect<void, KafkaError> =>
  Effect.gen(function*() {
    for (const groupId of target.groups) {
      yield* awaitGroupFree(settings, groupId).pipe(
        Effect.mapError((e) =>
          e.reason === "SecondAnalyzer"
            ? new KafkaError({
              reason: e.reason,
              message: `--clean cannot start over while an analyzer of the group runs: consumer group "${groupId}" has a live member. ` +
                `Stop every analyzer of --group-id first.`
            })
            : e
        )
      )
    }
    yield* withAdmin(settings, (admin, notices) =>
      retryKafka(
        () =>
          admin.use(async (a) => {
            for (const groupId of target.groups) {
              try {
                await a.deleteGroups([groupId])
              } catch (e) {
                if (!kafkaErrorTypes(e).includes("GROUP_ID_NOT_FOUND")) throw e
              }
            }
            if ((await a.listTopics()).includes(target.internalTopic)) {
              await a.deleteTopics({ topics: [target.internalTopic] })
              // Deletion is asynchronous: wait until the name is free, so the start-up can create it again.
              for (let i = 0; i < 100 && (await a.listTopics()).includes(target.internalTopic); i++) {
                await new Promise((resolve) => setTimeout(resolve, 100))
              }
            }
          }),
        { what: `--clean resetting consumer groups ${target.groups.join(", ")}`, key: "admin-reset", notices }
      )
    )
  })
