/**
 * Shared Kafka plumbing for the transport and alert layers: connection
 * settings (brokers, optional SASL and TLS from the environment), a quiet
 * kafkajs logger that speaks in plain words, a retry loop with capped backoff
 * for outages, and topic creation at start-up.
 *
 * Nothing outside `KafkaClient.ts` and `Kafka.ts` may import kafkajs.
 */
import * as fs from "node:fs"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type Admin, Kafka, logLevel, type LogEntry, type SASLOptions } from "kafkajs"
import type { ConnectionOptions } from "node:tls"
import { parseBrokers } from "../domain/Options.ts"

export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

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
    ? env["KAFKA_BROKERS"] ?? "localhost:9092"
    : typeof brokersFlag === "string"
    ? brokersFlag
    : brokersFlag.join(",")
  const parsed = parseBrokers(rawBrokers)
  let brokers: ReadonlyArray<string> = ["localhost:9092"]
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
  settings.problem === undefined ? Effect.void : Effect.fail(new KafkaError({ message: settings.problem }))

// ---------------------------------------------------------------------------
// Plain-words notices, rate-limited per subject.

const NOTICE_INTERVAL_MS = 60_000
const lastNotice = new Map<string, number>()
let noticeWriter: (line: string) => void = (line) => void process.stderr.write(line + "\n")

/** Tests may capture notices. Returns the previous writer. */
export const setKafkaNoticeWriter = (writer: (line: string) => void): (line: string) => void => {
  const previous = noticeWriter
  noticeWriter = writer
  return previous
}

/** Prints `line` unless the same `key` was printed in the last minute. */
export const kafkaNotice = (key: string, line: string, force = false): void => {
  const now = Date.now()
  const last = lastNotice.get(key)
  if (!force && last !== undefined && now - last < NOTICE_INTERVAL_MS) return
  lastNotice.set(key, now)
  if (lastNotice.size > 1000) lastNotice.clear()
  noticeWriter(line)
}

/** Forget a subject, so its next notice prints at once (after a recovery). */
export const resetKafkaNotice = (key: string): void => void lastNotice.delete(key)

const CONNECT_ERROR = /(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)/

const errorChain = (e: unknown): Array<any> => {
  const out: Array<any> = []
  let cur: any = e
  while (cur && out.length < 10) {
    out.push(cur)
    cur = cur.originalError ?? cur.cause
  }
  return out
}

/** One plain sentence for a kafkajs error: no stack, no JSON. */
export const describeKafkaError = (e: unknown): string => {
  const chain = errorChain(e)
  for (const c of chain) {
    const msg = String(c?.message ?? c)
    const m = CONNECT_ERROR.exec(msg) ?? (c?.code && CONNECT_ERROR.exec(String(c.code)))
    if (m) {
      const where = c.broker ?? (c.host && c.port ? `${c.host}:${c.port}` : /(\S+:\d+)\s*$/.exec(msg)?.[1])
      return where ? `Kafka broker ${where} is unreachable (${m[1]})` : `a Kafka broker is unreachable (${m[1]})`
    }
    if (c?.name === "KafkaJSSASLAuthenticationError") return `Kafka authentication failed: ${msg}`
    if (c?.name === "KafkaJSConnectionError" || c?.name === "KafkaJSConnectionClosedError") {
      return `Kafka connection problem: ${msg}`
    }
    if (c?.name === "KafkaJSRequestTimeoutError") return `a Kafka request timed out (${msg})`
  }
  const last = chain[chain.length - 1] ?? e
  const msg = String(last?.message ?? last).split("\n")[0]
  return last?.type ? `Kafka error ${last.type}: ${msg}` : `Kafka error: ${msg}`
}

const FATAL_TYPES = new Set([
  "TOPIC_AUTHORIZATION_FAILED",
  "GROUP_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "SASL_AUTHENTICATION_FAILED",
  "UNSUPPORTED_SASL_MECHANISM",
  "ILLEGAL_SASL_STATE",
  "INVALID_TOPIC_EXCEPTION",
  "UNSUPPORTED_VERSION"
])

/** Errors that retrying cannot fix: bad credentials, missing permissions. */
export const isFatalKafkaError = (e: unknown): boolean =>
  errorChain(e).some((c) =>
    c?.name === "KafkaJSSASLAuthenticationError" ||
    c?.name === "KafkaJSServerDoesNotSupportApiKey" ||
    (typeof c?.type === "string" && FATAL_TYPES.has(c.type)) ||
    /certificate|self[- ]signed|SSL routines|wrong version number/i.test(String(c?.message ?? ""))
  )

// ---------------------------------------------------------------------------
// Quiet kafkajs logger.

const SUPPRESSED = [
  /^Crash: /, // the layers report crashes themselves
  /^Restarting the consumer/,
  /The group is rebalancing, re-joining/,
  /^Response \w+\(key: \d+/, // error responses; what matters surfaces as a thrown error
  /^Failed to send messages: .*(not the leader|LEADER_NOT_AVAILABLE|leader)/i,
  /KafkaJS v2\.0\.0 switched default partitioner/,
  /^The coordinator is not aware of this member/
]

export interface KafkaLogHooks {
  /** kafkajs reset a partition after OFFSET_OUT_OF_RANGE. */
  readonly onOffsetOutOfRange?: (topic: string, partition: number) => void
  /** How the reset is done, in words (`earliest offset`). */
  readonly resetPolicy?: string
}

export const quietLogCreator = (hooks: KafkaLogHooks = {}) => (_level: logLevel) => (entry: LogEntry): void => {
  if (entry.level > logLevel.WARN) return
  const log = entry.log
  const message = String(log.message ?? "")
  if (message.startsWith("Offset out of range")) {
    const topic = String(log["topic"])
    const partition = Number(log["partition"])
    hooks.onOffsetOutOfRange?.(topic, partition)
    kafkaNotice(
      `oor:${topic}:${partition}`,
      `Kafka: the committed offset for ${topic}[${partition}] is outside the log ` +
        `(the topic was probably deleted and recreated, or retention removed old messages); ` +
        `continuing from the ${hooks.resetPolicy ?? "default"} offset per --starting-offsets`,
      true
    )
    return
  }
  if (SUPPRESSED.some((re) => re.test(message))) return
  const m = CONNECT_ERROR.exec(message) ?? CONNECT_ERROR.exec(String(log["error"] ?? ""))
  if (m) {
    const broker = log["broker"] ?? /(\S+:\d+)\s*$/.exec(message)?.[1] ?? "(unknown)"
    kafkaNotice(`unreachable:${broker}`, `Kafka broker ${broker} is unreachable (${m[1]}); retrying`)
    return
  }
  const detail = log["error"] && !message.includes(String(log["error"])) ? ` (${String(log["error"])})` : ""
  const line = `Kafka: ${message}${detail}`.split("\n")[0]!
  kafkaNotice(`msg:${line.replace(/\d+/g, "#")}`, line.length > 300 ? line.slice(0, 300) + "…" : line)
}

let warningFilterInstalled = false
/**
 * kafkajs 2.2.4's request queue calls `setTimeout` with a negative delay when
 * it is not throttled (harmless: Node uses 1 ms), and Node 24 prints a
 * TimeoutNegativeWarning with a stack trace. Drop exactly that warning.
 */
const installWarningFilter = (): void => {
  if (warningFilterInstalled) return
  warningFilterInstalled = true
  const original = process.emitWarning.bind(process) as (...args: Array<any>) => void
  process.emitWarning = ((warning: string | Error, ...rest: Array<any>) => {
    const type = typeof rest[0] === "string" ? rest[0] : rest[0]?.type
    if (type === "TimeoutNegativeWarning" || (warning instanceof Error && warning.name === "TimeoutNegativeWarning")) {
      return
    }
    original(warning, ...rest)
  }) as typeof process.emitWarning
}

/** A kafkajs client for `settings`; only the layers in this folder use it. */
export const makeKafka = (settings: KafkaSettings, hooks: KafkaLogHooks = {}, clientSuffix?: string): Kafka => {
  installWarningFilter()
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
    clientId: clientSuffix ? `${settings.clientId}-${clientSuffix}` : settings.clientId,
    brokers: [...settings.brokers],
    ...(sasl ? { sasl } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator: quietLogCreator(hooks)
  })
}

// ---------------------------------------------------------------------------
// Retry with capped backoff.

export interface RetryOptions {
  /** What is being done, for the notice: `connecting the producer`. */
  readonly what: string
  /** Subject for rate-limiting notices. */
  readonly key: string
  /** Runs after a failed attempt, before sleeping (e.g. recreate a client). */
  readonly onFailure?: (error: unknown, attempt: number) => Effect.Effect<void>
  readonly maxDelay?: Duration.Input
}

/** Failed attempts (about 0.75 s of backoff) before a notice is printed. */
const QUIET_ATTEMPTS = 3

const backoffMs = (attempt: number, maxMs: number): number => Math.min(maxMs, 250 * 2 ** Math.min(attempt, 10))

/**
 * Runs `attempt` until it succeeds. Each outage prints one plain line (again
 * at most once a minute while it lasts) and one when it is over. Fatal errors
 * (authentication, authorization) fail at once with `mkError`.
 */
export const retryKafka = <A, E>(
  attempt: () => Promise<A>,
  options: RetryOptions,
  mkError: (message: string, cause: unknown) => E
): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const maxMs = Duration.toMillis(options.maxDelay ?? "5 seconds")
    let failures = 0
    let noticed = false
    let since = 0
    while (true) {
      const result = yield* Effect.tryPromise({ try: attempt, catch: (e) => e }).pipe(
        Effect.map((value) => ({ ok: true as const, value })),
        Effect.catch((error) => Effect.succeed({ ok: false as const, error }))
      )
      if (result.ok) {
        if (noticed) {
          const secs = Math.round((Date.now() - since) / 1000)
          resetKafkaNotice(`retry:${options.key}`)
          kafkaNotice(`recovered:${options.key}`, `Kafka: ${options.what} succeeded after ${secs}s of retries`, true)
        }
        return result.value
      }
      const error = result.error
      if (isFatalKafkaError(error)) {
        return yield* Effect.fail(mkError(`${options.what} failed: ${describeKafkaError(error)}`, error))
      }
      if (failures === 0) since = Date.now()
      const delay = backoffMs(failures, maxMs)
      failures++
      // A blip (leader election right after topic creation, a coordinator moving) stays silent;
      // an outage gets one line, repeated at most once a minute.
      if (failures >= QUIET_ATTEMPTS) {
        noticed = true
        kafkaNotice(
          `retry:${options.key}`,
          `${describeKafkaError(error)} while ${options.what}; retrying in ${(delay / 1000).toFixed(delay < 1000 ? 1 : 0)}s ` +
            `(backoff up to ${Math.round(maxMs / 1000)}s)`
        )
      }
      if (options.onFailure) yield* options.onFailure(error, failures)
      yield* Effect.sleep(Duration.millis(delay))
    }
  })

/** Runs a promise-returning cleanup, ignoring failures and giving up after `ms`. */
export const quietly = (f: () => Promise<unknown>, ms = 10_000): Effect.Effect<void> =>
  Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
    Effect.timeout(Duration.millis(ms)),
    Effect.ignore
  )

// ---------------------------------------------------------------------------
// Topics.

const mkError = (message: string, cause: unknown) => new KafkaError({ message, cause })

/** Runs `use` with a connected admin client (retrying the connection through outages), then disconnects. */
const withAdmin = <A>(
  settings: KafkaSettings,
  use: (admin: Admin) => Effect.Effect<A, KafkaError>
): Effect.Effect<A, KafkaError> =>
  Effect.gen(function*() {
    yield* checkKafkaSettings(settings)
    const admin = makeKafka(settings, {}, "admin").admin()
    yield* retryKafka(() => admin.connect(), { what: "connecting to Kafka", key: "admin-connect" }, mkError)
    return yield* use(admin).pipe(Effect.ensuring(quietly(() => admin.disconnect())))
  })

/**
 * Creates the missing topics with `partitions` partitions (replication 3 when
 * the cluster has 3+ brokers, else 1). Existing topics are left as they are;
 * returns each topic's actual partition count.
 */
export const ensureTopics = (
  settings: KafkaSettings,
  topics: ReadonlyArray<string>,
  partitions = 3
): Effect.Effect<ReadonlyMap<string, number>, KafkaError> =>
  withAdmin(settings, (admin) =>
    Effect.gen(function*() {
      const cluster = yield* retryKafka(
        () => admin.describeCluster(),
        { what: "describing the Kafka cluster", key: "admin-describe" },
        mkError
      )
      const replicationFactor = cluster.brokers.length >= 3 ? 3 : 1
      const existing = new Set(
        yield* retryKafka(() => admin.listTopics(), { what: "listing topics", key: "admin-list" }, mkError)
      )
      const missing = [...new Set(topics)].filter((t) => !existing.has(t))
      if (missing.length > 0) {
        yield* retryKafka(
          async () => {
            try {
              await admin.createTopics({
                waitForLeaders: true,
                topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor }))
              })
            } catch (e) {
              // Another process created it first: fine.
              if (errorChain(e).some((c) => c?.type === "TOPIC_ALREADY_EXISTS")) return
              const errors: Array<any> = (e as any)?.topics ?? []
              if (errors.length > 0 && errors.every((t) => t?.type === "TOPIC_ALREADY_EXISTS")) return
              throw e
            }
          },
          { what: `creating topic(s) ${missing.join(", ")}`, key: "admin-create" },
          mkError
        )
      }
      const counts = new Map<string, number>()
      for (const topic of new Set(topics)) {
        const offsets = yield* retryKafka(
          () => admin.fetchTopicOffsets(topic),
          { what: `reading the partitions of ${topic}`, key: `admin-offsets:${topic}` },
          mkError
        )
        counts.set(topic, offsets.length)
      }
      return counts
    })
  )

/**
 * `analyze --clean` in production mode: forgets the consumer group's
 * committed offsets (and the epoch markers of the alert transactions), so the
 * fresh checkpoint and the group agree and the analysis starts over from
 * `--starting-offsets`. A group with running members cannot be reset.
 */
export const resetConsumerGroup = (settings: KafkaSettings, groupId: string): Effect.Effect<void, KafkaError> =>
  withAdmin(settings, (admin) =>
    Effect.tryPromise({
      try: async () => {
        try {
          await admin.deleteGroups([groupId])
        } catch (e) {
          const codes = errorChain(e).map((c) => c?.type)
          const groups: Array<any> = (e as any)?.groups ?? []
          const groupCodes = groups.map((g) => g?.error?.type ?? g?.errorCode)
          if ([...codes, ...groupCodes].some((c) => c === "GROUP_ID_NOT_FOUND")) return
          if ([...codes, ...groupCodes].some((c) => c === "NON_EMPTY_GROUP")) {
            throw new KafkaError({
              message: `--clean cannot reset consumer group "${groupId}": another analyzer in that group is running. ` +
                `Stop it first, or use another --group-id.`
            })
          }
          throw e
        }
      },
      catch: (e) => e instanceof KafkaError ? e : mkError(`--clean could not reset consumer group "${groupId}": ${describeKafkaError(e)}`, e)
    })
  )
