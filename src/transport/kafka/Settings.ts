/**
 * The Kafka configuration, in one home for every direction (generator,
 * analyzer source, alert publisher, admin): connection settings from the
 * flags and the environment (brokers, optional SASL and TLS), the timings of
 * the consumer group, topic-name validation, and `makeKafka`, the one place
 * a kafkajs client is built.
 *
 * kafkajs is imported only inside `transport/kafka/`.
 */
// Before kafkajs loads: loglens replaces some of its modules (see Kafkajs.ts).
import "./Kafkajs.ts"
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Kafka, logLevel, type SASLOptions } from "kafkajs"
import type { ConnectionOptions } from "node:tls"
import { BROKERS_VARIABLE, DEFAULT_BROKERS, parseBrokers, type Parsed } from "../../domain/Options.ts"
import { KafkaError } from "./Errors.ts"
import { type KafkaLogHooks, type KafkaNotices, quietLogCreator } from "./Notices.ts"

export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512"

export interface KafkaSettings {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  readonly sasl?: {
    readonly mechanism: SaslMechanism
    readonly username: string
    readonly password: Redacted.Redacted<string>
  } | undefined
  readonly ssl?: {
    /** PEM contents of `KAFKA_SSL_CA_FILE`, if set. */
    readonly ca?: string | undefined
    readonly rejectUnauthorized: boolean
  } | undefined
  /** A configuration mistake, in plain words: the layers refuse to start with it. */
  readonly problem?: string | undefined
}

/** For people: brokers and security mode, never a secret. */
export const describeKafkaSettings = (settings: KafkaSettings): string => {
  const security = [
    settings.ssl ? "TLS" : undefined,
    settings.sasl ? `SASL ${settings.sasl.mechanism.toUpperCase()} as ${settings.sasl.username}` : undefined
  ].filter((s) => s !== undefined)
  return settings.brokers.join(",") + (security.length > 0 ? ` (${security.join(", ")})` : "")
}

const truthy = (v: string | undefined): boolean | undefined => {
  if (v === undefined || v === "") return undefined
  const s = v.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(s)) return true
  if (["0", "false", "no", "off"].includes(s)) return false
  return undefined
}

/**
 * Settings from `--kafka-broker host:port[,host:port]` (wins; already split or
 * not), else `KAFKA_BROKERS`, else `localhost:9092`; plus the optional
 * `KAFKA_SASL_MECHANISM` (plain | scram-sha-256 | scram-sha-512),
 * `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL=true`,
 * `KAFKA_SSL_CA_FILE`, `KAFKA_SSL_REJECT_UNAUTHORIZED` (default true).
 *
 * Synchronous for the CLI: a bad setting does not throw, it is kept in
 * `problem`, and every Kafka layer refuses to start with that plain message.
 */
export const kafkaSettingsFromEnv = (
  brokersFlag?: string | ReadonlyArray<string> | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env
): KafkaSettings => {
  const problems: Array<string> = []
  const rawBrokers = brokersFlag === undefined
    ? env[BROKERS_VARIABLE] ?? DEFAULT_BROKERS
    : typeof brokersFlag === "string"
    ? brokersFlag
    : brokersFlag.join(",")
  const parsed = parseBrokers(rawBrokers)
  let brokers: ReadonlyArray<string> = [DEFAULT_BROKERS]
  if (!parsed.ok) {
    problems.push(`invalid Kafka broker list (--kafka-broker or KAFKA_BROKERS): ${parsed.message}`)
  } else {
    brokers = parsed.value
  }

  let sasl: KafkaSettings["sasl"]
  const mechanismRaw = env["KAFKA_SASL_MECHANISM"]?.trim().toLowerCase()
  if (mechanismRaw) {
    const username = env["KAFKA_SASL_USERNAME"]
    const password = env["KAFKA_SASL_PASSWORD"]
    if (mechanismRaw !== "plain" && mechanismRaw !== "scram-sha-256" && mechanismRaw !== "scram-sha-512") {
      problems.push(`KAFKA_SASL_MECHANISM is "${mechanismRaw}"; expected plain, scram-sha-256 or scram-sha-512`)
    } else if (!username || password === undefined) {
      problems.push(`KAFKA_SASL_MECHANISM=${mechanismRaw} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`)
    } else {
      sasl = { mechanism: mechanismRaw, username, password: Redacted.make(password, { label: "KAFKA_SASL_PASSWORD" }) }
    }
  }

  let ssl: KafkaSettings["ssl"]
  const sslFlag = truthy(env["KAFKA_SSL"])
  if (env["KAFKA_SSL"] && sslFlag === undefined) {
    problems.push(`KAFKA_SSL is "${env["KAFKA_SSL"]}"; expected true or false`)
  }
  const caFile = env["KAFKA_SSL_CA_FILE"]
  if (sslFlag === true || (sslFlag === undefined && caFile)) {
    const rejectRaw = env["KAFKA_SSL_REJECT_UNAUTHORIZED"]
    const reject = truthy(rejectRaw)
    if (rejectRaw && reject === undefined) {
      problems.push(`KAFKA_SSL_REJECT_UNAUTHORIZED is "${rejectRaw}"; expected true or false`)
    }
    let ca: string | undefined
    if (caFile) {
      try {
        ca = fs.readFileSync(caFile, "utf8")
      } catch (e) {
        problems.push(`cannot read KAFKA_SSL_CA_FILE ${caFile}: ${(e as Error).message}`)
      }
    }
    ssl = { ca, rejectUnauthorized: reject ?? true }
  }
  return { brokers, clientId: "loglens", sasl, ssl, problem: problems.length > 0 ? problems.join("; ") : undefined }
}

/** Fails with the settings' plain-words problem, if any. */
export const checkKafkaSettings = (settings: KafkaSettings): Effect.Effect<void, KafkaError> =>
  settings.problem === undefined ? Effect.void : Effect.fail(new KafkaError({ reason: "Settings", message: settings.problem }))

/**
 * kafkajs's own retries for one request: a few quick ones (about 10 s), then
 * the error reaches the layers' retry policy, which classifies it and either
 * gives up (fatal) or retries with the shared backoff, forever.
 */
export const KAFKAJS_RETRY = { initialRetryTime: 300, maxRetryTime: 5000, retries: 5 } as const

/**
 * The idempotent and transactional producers let kafkajs retry for as long as
 * it takes (kafkajs requires it for idempotence): a retry then resends only to
 * the brokers that did not answer, with the same sequence numbers. Errors that
 * kafkajs does not retry still reach the layers' policy.
 */
export const IDEMPOTENT_RETRY = { initialRetryTime: 300, maxRetryTime: 5000, retries: Number.MAX_SAFE_INTEGER } as const

/**
 * The consumer group's session: a member that sends no heartbeat for this
 * long is dead, and its partitions go to whoever is left, or to its restart.
 * Short, so a killed analyzer's restart resumes within about 10 s; the
 * broker's smallest allowed value (group.min.session.timeout.ms) is 6 s.
 */
export const SESSION_TIMEOUT_MS = 6_000
/** Well under a third of the session, as Kafka advises, so a lost heartbeat or two is not a death. */
export const HEARTBEAT_INTERVAL_MS = 1_000

/**
 * How often production mode asks the broker where the input partitions end: a partition with
 * nothing unread can become idle, and the dashboard's lag is counted from these ends.
 */
export const END_OFFSET_POLL_MS = 1_000

/** Kafka's rule for topic names, in words. */
export const TOPIC_NAME_RULE = `1 to 249 characters of a-z, A-Z, 0-9, ".", "_" and "-", and not "." or ".."`

const isTopicName = (name: string): boolean =>
  name.length >= 1 && name.length <= 249 && /^[a-zA-Z0-9._-]+$/.test(name) && name !== "." && name !== ".."

/** A name for a message: long ones cut short. */
const shownName = (name: string): string =>
  name.length > 40 ? `${JSON.stringify(name.slice(0, 40))}… (${name.length} characters)` : JSON.stringify(name)

/** Why `name` is not a legal Kafka topic name, or undefined when it is. */
export const topicNameProblem = (name: string): string | undefined =>
  isTopicName(name) ? undefined : `${shownName(name)} is not a valid Kafka topic name (${TOPIC_NAME_RULE})`

/** `--<flag>`'s value as a topic name, for the CLI's flag parser: refused at once when illegal. */
export const parseTopicName = (flag: string) => (text: string): Parsed<string> =>
  isTopicName(text)
    ? { ok: true, value: text }
    : { ok: false, message: `--${flag} expects a Kafka topic name (${TOPIC_NAME_RULE}), got ${shownName(text)}` }

/** Fails (reason `InvalidTopic`) unless every name is a legal topic name. */
export const checkTopicNames = (topics: ReadonlyArray<string>): Effect.Effect<void, KafkaError> => {
  const problem = topics.map(topicNameProblem).find((p) => p !== undefined)
  return problem === undefined ? Effect.void : Effect.fail(new KafkaError({ reason: "InvalidTopic", message: problem }))
}

/** A kafkajs client for `settings`; only the layers in this folder use it. */
export const makeKafka = (
  settings: KafkaSettings,
  notices: KafkaNotices,
  clientSuffix: string,
  hooks: KafkaLogHooks = {}
): Kafka => {
  let sasl: SASLOptions | undefined
  if (settings.sasl) {
    const { mechanism, username } = settings.sasl
    const password = Redacted.value(settings.sasl.password)
    sasl = mechanism === "plain"
      ? { mechanism: "plain", username, password }
      : mechanism === "scram-sha-256"
      ? { mechanism: "scram-sha-256", username, password }
      : { mechanism: "scram-sha-512", username, password }
  }
  let ssl: ConnectionOptions | boolean | undefined
  if (settings.ssl) {
    ssl = settings.ssl.ca !== undefined
      ? { ca: [settings.ssl.ca], rejectUnauthorized: settings.ssl.rejectUnauthorized }
      : { rejectUnauthorized: settings.ssl.rejectUnauthorized }
  }
  return new Kafka({
    clientId: `${settings.clientId}-${clientSuffix}`,
    brokers: [...settings.brokers],
    ...(sasl ? { sasl } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: KAFKAJS_RETRY,
    logLevel: logLevel.WARN,
    logCreator: quietLogCreator(notices, hooks)
  })
}
