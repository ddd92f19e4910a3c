/**
 * The Kafka error classification, on errors built with kafkajs's own classes
 * and its own table of broker error codes (the same objects a real broker
 * answer turns into), wrapped the way kafkajs wraps them.
 */
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import {
  classifyKafkaError,
  describeKafkaError,
  isFatal,
  KafkaError,
  kafkaError,
  type KafkaErrorReason
} from "../../../src/transport/kafka/Errors.ts"
import { topicNameProblem } from "../../../src/transport/kafka/Settings.ts"

const require = createRequire(import.meta.url)
const kafkajs = require("kafkajs")
const { createErrorFromCode } = require("kafkajs/src/protocol/error")

/** A broker's error code, as kafkajs turns it into an error. */
const broker = (code: number) => createErrorFromCode(code)
/** kafkajs gave up retrying a retriable error. */
const retriesExceeded = (e: Error) => new kafkajs.KafkaJSNumberOfRetriesExceeded(e, { retryCount: 5, retryTime: 5000 })

const cases: ReadonlyArray<readonly [string, () => unknown, KafkaErrorReason, boolean]> = [
  ["a record over max.message.bytes", () => broker(10), "RecordTooLarge", true],
  ["a request over the broker's limit", () => broker(18), "RecordTooLarge", true],
  ["an illegal topic name, from CreateTopics", () =>
    new kafkajs.KafkaJSAggregateError("Topic creation errors", [
      new kafkajs.KafkaJSCreateTopicError(broker(17), "a/b")
    ]), "InvalidTopic", true],
  ["an unknown topic after kafkajs's retries", () => retriesExceeded(broker(3)), "UnknownTopic", true],
  ["a denied topic", () => broker(29), "Authorization", true],
  ["a denied group", () => broker(30), "Authorization", true],
  ["a denied cluster action", () => broker(31), "Authorization", true],
  ["a denied transactional id", () => broker(53), "Authorization", true],
  ["bad SASL credentials", () => new kafkajs.KafkaJSSASLAuthenticationError("SASL PLAIN authentication failed"), "Authentication", true],
  ["SASL refused by the broker", () => broker(58), "Authentication", true],
  ["an untrusted TLS certificate", () =>
    new kafkajs.KafkaJSConnectionError("self-signed certificate in certificate chain", { broker: "b:9093" }), "Authentication", true],
  ["an old producer epoch (fenced by a newer producer)", () => broker(47), "ProducerFenced", true],
  ["PRODUCER_FENCED, which kafkajs 2.2.4 does not know by name", () => broker(90), "ProducerFenced", true],
  ["an unsupported request version", () => broker(35), "UnsupportedVersion", true],
  ["an API the broker lacks", () =>
    new kafkajs.KafkaJSServerDoesNotSupportApiKey("The Kafka server does not support the requested API version", {
      apiKey: 22,
      apiName: "InitProducerId"
    }), "UnsupportedVersion", true],
  ["a group with a live member (--clean)", () => broker(68), "SecondAnalyzer", true],
  ["a refused connection", () =>
    new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092", {
      broker: "127.0.0.1:9092",
      code: "ECONNREFUSED"
    }), "Unreachable", false],
  ["a refused connection, after kafkajs's retries", () =>
    retriesExceeded(new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092", {
      broker: "127.0.0.1:9092",
      code: "ECONNREFUSED"
    })), "Unreachable", false],
  ["a request timeout", () => new kafkajs.KafkaJSRequestTimeoutError("Request Produce(key: 0, version: 7) timed out"), "Timeout", false],
  ["a leader that moved", () => retriesExceeded(broker(6)), "Transient", false],
  ["a lost producer id", () => broker(59), "ProducerState", false],
  ["something kafkajs never heard of", () => new Error("socket hang up"), "Transient", false]
]

describe("classifyKafkaError", () => {
  for (const [what, make, reason, fatal] of cases) {
    it(`${what}: ${reason}, ${fatal ? "fatal" : "retried"}`, () => {
      const error = make()
      expect(classifyKafkaError(error)).toBe(reason)
      const classified = kafkaError("sending 3 lines to http-logs", error)
      expect(classified.reason).toBe(reason)
      expect(isFatal(classified)).toBe(fatal)
      expect(classified.message).toMatch(/^sending 3 lines to http-logs failed: /)
      // One plain line: no stack trace, no JSON.
      expect(classified.message).not.toMatch(/\n|\bat \S+:\d+|[{}]/)
    })
  }

  it("a fatal error inside an aggregate wins over the retriable ones beside it", () => {
    const error = new kafkajs.KafkaJSAggregateError("two brokers", [
      new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED b1:9092", { broker: "b1:9092" }),
      broker(29)
    ])
    expect(classifyKafkaError(error)).toBe("Authorization")
  })

  it("a KafkaError keeps its own reason and message", () => {
    const own = new KafkaError({ reason: "SecondAnalyzer", message: "one analyzer per --group-id" })
    expect(kafkaError("joining", own)).toBe(own)
    expect(classifyKafkaError(own)).toBe("SecondAnalyzer")
  })
})

describe("describeKafkaError", () => {
  it("names the broker that is unreachable and the socket error", () => {
    const error = retriesExceeded(
      new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092", {
        broker: "127.0.0.1:9092",
        code: "ECONNREFUSED"
      })
    )
    expect(describeKafkaError(error)).toBe("Kafka broker 127.0.0.1:9092 is unreachable (ECONNREFUSED)")
  })

  it("says which setting to change for a record too large", () => {
    expect(describeKafkaError(broker(10))).toMatch(/too large .*MESSAGE_TOO_LARGE.*max\.message\.bytes/)
  })

  it("points at the credentials for an authentication failure", () => {
    expect(describeKafkaError(broker(58))).toMatch(/KAFKA_SASL_USERNAME/)
  })
})

describe("topicNameProblem (Kafka's rule: 1-249 of [a-zA-Z0-9._-], not . or ..)", () => {
  const illegal = ["bad topic!", "a/b", "..", ".", "x".repeat(250), "x".repeat(300), "", "ünïcode", "tab\there"]
  const legal = ["http-logs", "alerts", "a.b_c-1", "...", "x".repeat(249), "_", "A9"]
  for (const name of illegal) {
    it(`refuses ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}… (${name.length})` : name)}`, () => {
      expect(topicNameProblem(name)).toMatch(/is not a valid Kafka topic name \(1 to 249 characters of a-z, A-Z, 0-9/)
    })
  }
  for (const name of legal) {
    it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}… (${name.length})` : name)}`, () => {
      expect(topicNameProblem(name)).toBeUndefined()
    })
  }
})
