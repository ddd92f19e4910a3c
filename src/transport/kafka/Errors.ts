/**
 * Every Kafka failure, classified in one place. kafkajs throws a tree of
 * errors (protocol errors with a `type`, retries-exceeded wrappers with an
 * `originalError`, aggregates with `errors`); `classifyKafkaError` walks it
 * and names the one `reason` that matters, and `kafkaError` turns it into a
 * `KafkaError` with a plain sentence that names the fix.
 *
 * A fatal reason is one that retrying cannot help: the retry policy
 * (`Retry.ts`) gives up on it at once, and the program ends with its message
 * and a non-zero exit. Everything else is an outage or a blip, retried with
 * backoff for as long as it lasts.
 */
import * as Schema from "effect/Schema"

export const KafkaErrorReason = Schema.Literals([
  // Retried:
  "Unreachable", //         no broker answers (connection refused, reset, DNS)
  "Timeout", //             a request timed out
  "Transient", //           anything else kafkajs or the broker calls retriable (leader moved, coordinator loading…)
  "ProducerState", //       an idempotent producer lost its sequence state: a new producer fixes it
  // Fatal:
  "RecordTooLarge", //      a record (or a batch of one record) is larger than the topic accepts
  "InvalidRecord", //       the broker refused the records themselves
  "InvalidTopic", //        an illegal topic name
  "UnknownTopic", //        the topic does not exist and the broker does not create it for us
  "Authentication", //      SASL or TLS handshake refused
  "Authorization", //       the user lacks a permission (topic, group, cluster, transactional id)
  "ProducerFenced", //      a newer producer with the same transactional id took over
  "UnsupportedVersion", //  the broker does not speak a request kafkajs needs
  "SecondAnalyzer", //      an analyzer still runs in a consumer group that --clean would reset
  "Settings" //             a configuration mistake (brokers, SASL, TLS)
])
export type KafkaErrorReason = typeof KafkaErrorReason.Type

export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  reason: KafkaErrorReason,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const RETRIED: ReadonlySet<KafkaErrorReason> = new Set(["Unreachable", "Timeout", "Transient", "ProducerState"])

/** Retrying cannot help: stop, say why, exit non-zero. */
export const isFatal = (error: KafkaError): boolean => !RETRIED.has(error.reason)

/** The broker error types (kafkajs `type`) behind each fatal or special reason. */
const BY_TYPE: ReadonlyMap<string, KafkaErrorReason> = new Map<string, KafkaErrorReason>([
  ["MESSAGE_TOO_LARGE", "RecordTooLarge"],
  ["RECORD_LIST_TOO_LARGE", "RecordTooLarge"],
  ["INVALID_RECORD", "InvalidRecord"],
  ["CORRUPT_MESSAGE", "InvalidRecord"],
  ["INVALID_TOPIC_EXCEPTION", "InvalidTopic"],
  ["UNKNOWN_TOPIC_OR_PARTITION", "UnknownTopic"],
  ["SASL_AUTHENTICATION_FAILED", "Authentication"],
  ["UNSUPPORTED_SASL_MECHANISM", "Authentication"],
  ["ILLEGAL_SASL_STATE", "Authentication"],
  ["TOPIC_AUTHORIZATION_FAILED", "Authorization"],
  ["GROUP_AUTHORIZATION_FAILED", "Authorization"],
  ["CLUSTER_AUTHORIZATION_FAILED", "Authorization"],
  ["TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "Authorization"],
  ["PRODUCER_FENCED", "ProducerFenced"],
  ["INVALID_PRODUCER_EPOCH", "ProducerFenced"],
  ["UNKNOWN_PRODUCER_ID", "ProducerState"],
  ["OUT_OF_ORDER_SEQUENCE_NUMBER", "ProducerState"],
  ["INVALID_PRODUCER_ID_MAPPING", "ProducerState"],
  ["UNSUPPORTED_VERSION", "UnsupportedVersion"],
  ["NON_EMPTY_GROUP", "SecondAnalyzer"]
])

/** Which reason wins when a tree holds several (an aggregate of per-broker errors). */
const PRECEDENCE: ReadonlyArray<KafkaErrorReason> = [
  "SecondAnalyzer",
  "Settings",
  "Authentication",
  "Authorization",
  "UnsupportedVersion",
  "InvalidTopic",
  "RecordTooLarge",
  "InvalidRecord",
  "ProducerFenced",
  "UnknownTopic",
  "ProducerState",
  "Unreachable",
  "Timeout",
  "Transient"
]

/** A socket error code in a message: the broker is unreachable. */
export const CONNECT_ERROR = /(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)/
const TLS_ERROR = /certificate|self[- ]signed|SSL routines|wrong version number/i

/** Every error in a kafkajs error tree, outermost first. */
const errorTree = (e: unknown): Array<any> => {
  const out: Array<any> = []
  const visit = (c: any) => {
    if (!c || typeof c !== "object" || out.length >= 50 || out.includes(c)) return
    out.push(c)
    visit(c.originalError)
    visit(c.cause)
    if (Array.isArray(c.errors)) for (const inner of c.errors) visit(inner)
    if (Array.isArray(c.groups)) for (const g of c.groups) visit(g?.error)
  }
  visit(e)
  return out
}

/** The broker error types (`MESSAGE_TOO_LARGE`, …) anywhere in a kafkajs error. */
export const kafkaErrorTypes = (e: unknown): Array<string> =>
  errorTree(e).flatMap((c) => (typeof c.type === "string" ? [c.type] : []))

const reasonOfOne = (c: any): KafkaErrorReason | undefined => {
  if (c instanceof KafkaError) return c.reason
  if (typeof c.type === "string" && BY_TYPE.has(c.type)) return BY_TYPE.get(c.type)
  // PRODUCER_FENCED (90) is newer than kafkajs 2.2.4's table, which calls it an unknown code.
  if (c.type === "KAFKAJS_UNKNOWN_ERROR_CODE" && /\b90$/.test(String(c.message))) return "ProducerFenced"
  const name = String(c.name ?? "")
  const message = String(c.message ?? "")
  if (name === "KafkaJSSASLAuthenticationError") return "Authentication"
  if (name === "KafkaJSServerDoesNotSupportApiKey") return "UnsupportedVersion"
  if (TLS_ERROR.test(message)) return "Authentication"
  if (CONNECT_ERROR.test(message) || CONNECT_ERROR.test(String(c.code ?? ""))) return "Unreachable"
  if (name === "KafkaJSConnectionError" || name === "KafkaJSConnectionClosedError") return "Unreachable"
  if (name === "KafkaJSRequestTimeoutError" || name === "KafkaJSTimeout" || name === "KafkaJSLockTimeout") return "Timeout"
  return undefined
}

/** The one reason for a kafkajs error (or anything thrown near it). */
export const classifyKafkaError = (e: unknown): KafkaErrorReason => {
  const found = new Set(errorTree(e).map(reasonOfOne).filter((r) => r !== undefined))
  return PRECEDENCE.find((r) => found.has(r)) ?? "Transient"
}

/** The innermost message of a kafkajs error, first line only. */
const innermost = (e: unknown): string => {
  const tree = errorTree(e)
  const last = tree.filter((c) => typeof c.type === "string").at(-1) ?? tree.at(-1) ?? e
  const line = String((last as any)?.message ?? last).split("\n")[0]!
  const text = line.length > 160 ? `${line.slice(0, 160)}…` : line
  const type = (last as any)?.type
  return typeof type === "string" && !text.includes(type) ? `${text} (${type})` : text
}

/** Where a connection error happened, if kafkajs says. */
const brokerOf = (e: unknown): string | undefined => {
  for (const c of errorTree(e)) {
    const where = c.broker ?? (c.host && c.port ? `${c.host}:${c.port}` : undefined) ??
      (CONNECT_ERROR.test(String(c.message)) ? /(\S+:\d+)\s*$/.exec(String(c.message))?.[1] : undefined)
    if (where) return String(where)
  }
  return undefined
}

/** One plain sentence for a kafkajs error: no stack, no JSON. */
export const describeKafkaError = (e: unknown): string => {
  if (e instanceof KafkaError) return e.message
  const reason = classifyKafkaError(e)
  const detail = innermost(e)
  switch (reason) {
    case "Unreachable": {
      const code = errorTree(e).map((c) => CONNECT_ERROR.exec(`${c.message} ${c.code ?? ""}`)?.[1]).find((c) => c)
      const broker = brokerOf(e)
      const why = code ?? detail
      return broker ? `Kafka broker ${broker} is unreachable (${why})` : `a Kafka broker is unreachable (${why})`
    }
    case "Timeout":
      return `a Kafka request timed out (${detail})`
    case "RecordTooLarge":
      return `Kafka refused a record as too large (${detail}): the topic's max.message.bytes ` +
        `(or the broker's message.max.bytes) is smaller than the record; raise it, or send shorter lines`
    case "InvalidRecord":
      return `Kafka refused the records (${detail})`
    case "InvalidTopic":
      return `Kafka refused the topic name (${detail}); choose another --topic or --alerts-topic`
    case "UnknownTopic":
      return `the topic does not exist and the broker does not create it (${detail}); ` +
        `create it, or let loglens create it at start-up`
    case "Authentication":
      return `Kafka authentication failed (${detail}): check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, ` +
        `KAFKA_SASL_PASSWORD and the TLS settings (KAFKA_SSL, KAFKA_SSL_CA_FILE)`
    case "Authorization":
      return `Kafka denied access (${detail}): grant the Kafka user access to the topics, the consumer group ` +
        `and the transactional id loglens uses`
    case "ProducerFenced":
      return `another producer with the same transactional id took over (${detail})`
    case "SecondAnalyzer":
      return `the consumer group still has a member (${detail}): stop every analyzer of the --group-id first`
    case "UnsupportedVersion":
      return `the Kafka broker does not support a request loglens needs (${detail}); loglens needs Kafka 2.x to 4.x`
    default:
      return `Kafka error: ${detail}`
  }
}

/** `what` failed, with its reason: the error every Kafka layer fails with. */
export const kafkaError = (what: string, e: unknown): KafkaError =>
  e instanceof KafkaError
    ? e
    : new KafkaError({ reason: classifyKafkaError(e), message: `${what} failed: ${describeKafkaError(e)}`, cause: e })
