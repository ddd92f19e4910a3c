/**
 * A real Kafka broker for the integration tests: `KAFKA_BROKERS` when set,
 * otherwise the project's own single-node broker (`bash scripts/kafka.sh up`,
 * once per test process, serialized across processes with `flock -o`). Never
 * skips: if no broker can be had, the tests fail and say what to install.
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Kafka, logLevel } from "kafkajs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

const HOW_TO_FIX = "Install Java 17+ and Maven (e.g. `apt-get install -y openjdk-17-jre-headless maven`) so that " +
  "`bash scripts/kafka.sh up` can run a local broker, or set KAFKA_BROKERS=host:port to use a running Kafka 4.x broker."

const answers = async (brokers: ReadonlyArray<string>): Promise<string | undefined> => {
  const admin = new Kafka({
    clientId: "loglens-test-probe",
    brokers: [...brokers],
    connectionTimeout: 3000,
    retry: { retries: 2, initialRetryTime: 300 },
    logLevel: logLevel.NOTHING
  }).admin()
  try {
    await admin.connect()
    await admin.describeCluster()
    return undefined
  } catch (e) {
    return (e as Error).message
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

const run = (cmd: string, args: Array<string>, timeoutMs: number) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile(cmd, args, { cwd: root, timeout: timeoutMs, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as any).code === "number" ? (error as any).code : 1) : 0
      resolve({ code, output: `${stdout}${stderr}` })
    })
  })

/** Serializes `kafka.sh up` between test processes (vitest forks). */
const LOCK_FILE = "/tmp/loglens-kafka-up.v2.lock"

const start = async (): Promise<Array<string>> => {
  const fromEnv = process.env["KAFKA_BROKERS"]?.trim()
  if (fromEnv) {
    const brokers = fromEnv.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    const problem = await answers(brokers)
    if (problem !== undefined) {
      throw new Error(`KAFKA_BROKERS=${fromEnv} is set, but no Kafka broker answers there (${problem}). ${HOW_TO_FIX}`)
    }
    return brokers
  }
  const port = process.env["KAFKA_PORT"] ?? "9092"
  const local = [`127.0.0.1:${port}`]
  // -o: the broker that `up` leaves running must not inherit (and so hold) the lock.
  const up = await run("flock", ["-o", "-w", "600", LOCK_FILE, "bash", "scripts/kafka.sh", "up"], 600_000)
  if (up.code === 0 && (await answers(local)) === undefined) return local
  // Something else may already serve the port (e.g. the Compose broker).
  if ((await answers(local)) === undefined) return local
  const tail = up.output.trim().split("\n").slice(-8).join("\n")
  throw new Error(
    `No Kafka broker for the integration tests: KAFKA_BROKERS is not set and \`bash scripts/kafka.sh up\` ` +
      `failed (exit ${up.code}):\n${tail}\n${HOW_TO_FIX}`
  )
}

let started: Promise<Array<string>> | undefined

/** The brokers to test against; starts the local one on first use. */
export const testBrokers = (): Promise<Array<string>> => (started ??= start())

/** Topics and consumer groups this test process made on the broker, for `removeLeftovers`. */
const made = { topics: new Set<string>(), groups: new Set<string>() }

/** Registers a topic the test creates (itself or through the CLI); returns the name. */
export const madeTopic = (name: string): string => {
  made.topics.add(name)
  return name
}

/** Registers a consumer group the test creates (itself or through the CLI); returns the name. */
export const madeGroup = (name: string): string => {
  made.groups.add(name)
  return name
}

/**
 * Deletes every registered group, then every registered topic, one by one
 * (one that is missing or still in use does not stop the others). For
 * `afterAll`, so a failed test leaves nothing behind either.
 */
export const removeLeftovers = async (brokers: ReadonlyArray<string>): Promise<void> => {
  if (brokers.length === 0 || (made.topics.size === 0 && made.groups.size === 0)) return
  const admin = plainKafka(brokers).admin()
  await admin.connect()
  try {
    for (const group of made.groups) await admin.deleteGroups([group]).catch(() => undefined)
    for (const topic of made.topics) await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => undefined)
    made.groups.clear()
    made.topics.clear()
  } finally {
    await admin.disconnect()
  }
}

export const randomSuffix = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** A plain kafkajs client for checking what the layers did. */
export const plainKafka = (brokers: ReadonlyArray<string>): Kafka =>
  new Kafka({
    clientId: "loglens-test",
    brokers: [...brokers],
    connectionTimeout: 3000,
    retry: { retries: 8, initialRetryTime: 300 },
    logLevel: logLevel.NOTHING
  })

export interface Received {
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: Buffer | null
}

/**
 * Reads `topic` from the beginning in a fresh group into `messages` until
 * `stop()`. `readCommitted` reads as `isolation.level=read_committed`.
 */
export const collect = async (
  brokers: ReadonlyArray<string>,
  topic: string,
  options: { readonly readCommitted?: boolean } = {}
) => {
  const consumer = plainKafka(brokers).consumer({
    groupId: madeGroup(`loglens-test-reader-${randomSuffix()}`),
    readUncommitted: options.readCommitted === false,
    maxWaitTimeInMs: 200
  })
  const messages: Array<Received> = []
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      messages.push({
        partition,
        offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString("utf8"),
        value: message.value
      })
    }
  })
  const waitFor = async (count: number, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    while (messages.length < count && Date.now() < deadline) await sleep(50)
    return messages.length
  }
  return { messages, waitFor, stop: () => consumer.disconnect() }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
