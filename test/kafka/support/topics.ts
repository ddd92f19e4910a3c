/**
 * Plain kafkajs helpers for the CLI integration tests: create topics, produce
 * lines, read a topic back completely, read the alerts topic as a
 * `read_committed` consumer, and look at a group's committed offsets. None of
 * this goes through src/: it is how an outside observer sees the broker.
 */
import { CompressionTypes, type Kafka } from "kafkajs"
import { madeGroup, madeTopic, plainKafka, randomSuffix, sleep } from "../broker.ts"

export interface TopicMessage {
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: string
}

/** Creates `topic` (registered for `removeLeftovers`), with topic configs such as `max.message.bytes` if given. */
export const createTopic = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  partitions: number,
  configs: Record<string, string> = {}
): Promise<void> => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    await admin.createTopics({
      topics: [{
        topic: madeTopic(topic),
        numPartitions: partitions,
        replicationFactor: 1,
        configEntries: Object.entries(configs).map(([name, value]) => ({ name, value }))
      }],
      waitForLeaders: true
    })
  } finally {
    await admin.disconnect()
  }
}

/** Per partition: [low, high) offsets. */
export const topicOffsets = async (brokers: ReadonlyArray<string>, topic: string) => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition)
  } finally {
    await admin.disconnect()
  }
}

/** The group's committed offset per partition (partitions without one are left out). */
export const committedOffsets = async (brokers: ReadonlyArray<string>, groupId: string, topic: string) => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const out = new Map<number, number>()
    for (const p of result?.partitions ?? []) if (Number(p.offset) >= 0) out.set(p.partition, Number(p.offset))
    return out
  } finally {
    await admin.disconnect()
  }
}

/**
 * Produces `lines` (one message each) to `partition` with an idempotent
 * producer, acks=-1, sequentially in batches, and returns when all are acked.
 */
export const produceLines = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  lines: ReadonlyArray<string | Buffer>,
  partition = 0,
  batch = 5000
): Promise<void> => {
  const producer = plainKafka(brokers).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  try {
    for (let i = 0; i < lines.length; i += batch) {
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: lines.slice(i, i + batch).map((value) => ({ value, partition }))
      })
    }
  } finally {
    await producer.disconnect()
  }
}

/**
 * Reads every message of `topic` from the start up to its current end (the
 * high watermarks when called), as a read_uncommitted consumer in a fresh
 * group. Sorted by partition, then offset.
 */
export const readWholeTopic = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  timeoutMs = 60_000
): Promise<Array<TopicMessage>> => {
  const ends = await topicOffsets(brokers, topic)
  const expected = ends.reduce((n, o) => n + o.high - o.low, 0)
  const messages: Array<TopicMessage> = []
  if (expected === 0) return messages
  const consumer = plainKafka(brokers).consumer({
    groupId: madeGroup(`loglens-test-readall-${randomSuffix()}`),
    readUncommitted: true,
    maxWaitTimeInMs: 200,
    maxBytes: 32 << 20
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          messages.push({
            partition: batch.partition,
            offset: Number(m.offset),
            key: m.key === null ? null : m.key.toString("utf8"),
            value: m.value === null ? "" : m.value.toString("utf8")
          })
        }
      }
    })
    const deadline = Date.now() + timeoutMs
    while (messages.length < expected && Date.now() < deadline) await sleep(50)
  } finally {
    await consumer.disconnect()
  }
  if (messages.length < expected) {
    throw new Error(`read only ${messages.length} of the ${expected} messages of ${topic} in ${timeoutMs} ms`)
  }
  return messages.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

/**
 * Reads `topic` as `isolation.level=read_committed` (kafkajs
 * `readUncommitted: false`) in a fresh group until at least `atLeast`
 * messages arrived and then nothing new came for `settleMs`.
 */
export const readCommitted = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  atLeast: number,
  options: { readonly settleMs?: number; readonly timeoutMs?: number } = {}
): Promise<Array<TopicMessage>> => {
  const settleMs = options.settleMs ?? 3000
  const consumer = plainKafka(brokers).consumer({
    groupId: madeGroup(`loglens-test-readcommitted-${randomSuffix()}`),
    readUncommitted: false,
    maxWaitTimeInMs: 200
  })
  const messages: Array<TopicMessage> = []
  let lastAt = Date.now()
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        lastAt = Date.now()
        messages.push({
          partition,
          offset: Number(message.offset),
          key: message.key === null ? null : message.key.toString("utf8"),
          value: message.value === null ? "" : message.value.toString("utf8")
        })
      }
    })
    const deadline = Date.now() + (options.timeoutMs ?? 60_000)
    while (Date.now() < deadline && (messages.length < atLeast || Date.now() - lastAt < settleMs)) await sleep(100)
  } finally {
    await consumer.disconnect()
  }
  return messages
}

export type { Kafka }

/** Deletes `topic` and waits until the broker no longer lists it. */
export const deleteTopic = async (brokers: ReadonlyArray<string>, topic: string): Promise<void> => {
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 })
    const deadline = Date.now() + 30_000
    while ((await admin.listTopics()).includes(topic) && Date.now() < deadline) await sleep(200)
  } finally {
    await admin.disconnect()
  }
}
