/**
 * What the Kafka layers tell the user while they work: one plain line per
 * subject (an unreachable broker, a retried request, a reset offset), at most
 * once a minute while it lasts, on the fiber's `Console` (stderr by default),
 * timed by its `Clock`. Each layer makes its own `KafkaNotices`, so there is
 * no state shared between layers or tests.
 *
 * `quietLogCreator` is kafkajs's supported hook for its own log lines: it
 * drops the noise and turns the rest into such notices.
 */
// Before kafkajs loads: loglens replaces some of its modules (see Kafkajs.ts).
import "./Kafkajs.ts"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { type LogEntry, logLevel } from "kafkajs"
import { CONNECT_ERROR } from "./Errors.ts"

/** Same subject, same line: at most once in this interval, unless forced. */
const NOTICE_INTERVAL_MS = 60_000

export interface KafkaNotices {
  /** Prints `line` unless the same `key` was printed in the last minute (or `force`). */
  readonly notice: (key: string, line: string, force?: boolean) => void
  /** Forgets a subject, so its next notice prints at once (after a recovery). */
  readonly reset: (key: string) => void
}

/** Notices on the current `Console`, rate-limited by the current `Clock`. */
export const makeNotices: Effect.Effect<KafkaNotices> = Effect.gen(function*() {
  const console = yield* Console.Console
  const clock = yield* Clock.Clock
  const last = new Map<string, number>()
  return {
    notice: (key, line, force = false) => {
      const now = clock.currentTimeMillisUnsafe()
      const previous = last.get(key)
      if (!force && previous !== undefined && now - previous < NOTICE_INTERVAL_MS) return
      if (last.size > 1000) last.clear()
      last.set(key, now)
      console.error(line)
    },
    reset: (key) => void last.delete(key)
  }
})

const SUPPRESSED = [
  /^Crash: /, // the layers report crashes themselves
  /^Restarting the consumer/,
  /The group is rebalancing, re-joining/,
  /^Response \w+\(key: \d+/, // error responses; what matters surfaces as a thrown error
  /^Failed to send messages: .*(not the leader|LEADER_NOT_AVAILABLE|leader)/i,
  /KafkaJS v2\.0\.0 switched default partitioner/,
  /^The coordinator is not aware of this member/,
  // A request written on a connection that our own disconnect has just ended (while stopping).
  /^Connection error: write after end/
]

export interface KafkaLogHooks {
  /** kafkajs reset a partition after OFFSET_OUT_OF_RANGE. */
  readonly onOffsetOutOfRange?: (topic: string, partition: number) => void
  /** How the reset is done, in words (`earliest`). */
  readonly resetPolicy?: string
}

/** kafkajs's `logCreator`: warnings and errors only, in plain words, rate-limited; the noise dropped. */
export const quietLogCreator = (notices: KafkaNotices, hooks: KafkaLogHooks = {}) => (_level: logLevel) => (entry: LogEntry): void => {
  if (entry.level > logLevel.WARN) return
  const log = entry.log
  const message = String(log.message ?? "")
  if (message.startsWith("Offset out of range")) {
    const topic = String(log["topic"])
    const partition = Number(log["partition"])
    hooks.onOffsetOutOfRange?.(topic, partition)
    notices.notice(
      `oor:${topic}:${partition}`,
      `Kafka: the committed offset for ${topic}[${partition}] is outside the log ` +
        `(the topic was probably deleted and recreated, or retention removed old messages); ` +
        `continuing from the ${hooks.resetPolicy ?? "default"} offset per --starting-offsets`,
      true
    )
    return
  }
  if (SUPPRESSED.some((re) => re.test(message))) return
  // The producer's last word on an error it then throws: the layer reports that error itself.
  if (log["retryCount"] !== undefined && !/^(Failed to send messages|Could not)/.test(message)) return
  const m = CONNECT_ERROR.exec(message) ?? CONNECT_ERROR.exec(String(log["error"] ?? ""))
  if (m) {
    const broker = log["broker"] ?? /(\S+:\d+)\s*$/.exec(message)?.[1] ?? "(unknown)"
    notices.notice(`unreachable:${broker}`, `Kafka broker ${broker} is unreachable (${m[1]}); retrying`)
    return
  }
  const detail = log["error"] && !message.includes(String(log["error"])) ? ` (${String(log["error"])})` : ""
  const line = `Kafka: ${message}${detail}`.split("\n")[0]!
  notices.notice(`msg:${line.replace(/\d+/g, "#")}`, line.length > 300 ? line.slice(0, 300) + "…" : line)
}
