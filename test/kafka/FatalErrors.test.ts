/**
 * Errors that retrying cannot help end the REAL CLI with one plain message
 * and a non-zero exit, instead of being retried forever: an illegal topic
 * name (at the flag, and one the broker refuses), a record larger than the
 * topic accepts, and a topic deleted while the generator writes to it.
 */
import { describe, expect, it } from "vitest"
import { madeTopic, randomSuffix, sleep } from "./broker.ts"
import { cli, hasStackTrace, useSharedBroker } from "./support/processes.ts"
import { createTopic, deleteTopic, topicOffsets } from "./support/topics.ts"

const shared = useSharedBroker()

/** Runs the CLI and expects it to stop by itself within `withinMs`, with a non-zero exit and one plain message. */
const expectPlainFailure = async (args: ReadonlyArray<string>, message: RegExp, withinMs: number) => {
  const started = Date.now()
  const child = cli(args)
  const timer = setTimeout(() => child.child.kill("SIGKILL"), withinMs)
  const done = await child.done.finally(() => clearTimeout(timer))
  expect(done.signal, `still running after ${withinMs} ms (retrying forever?):\n${done.stderr}`).toBe(null)
  expect(done.code, done.stderr).not.toBe(0)
  expect(done.stderr).toMatch(message)
  expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
  return { ...done, ms: Date.now() - started }
}

const ILLEGAL_NAMES = ["bad topic!", "a/b", "..", "x".repeat(300), ""]
const NAME_RULE = /--(alerts-)?topic (expects a Kafka topic name \(1 to 249 characters of a-z, A-Z, 0-9, "\.", "_" and "-", and not "\." or "\.\."\)|needs a value)/

describe.concurrent("fatal Kafka errors, real CLI", () => {
  it("an illegal topic name is refused at the flag, without asking a broker", async () => {
    // Nothing listens on port 1: a name that got past the flag would be retried against it forever.
    const noBroker = ["--mode", "production", "--kafka-broker", "127.0.0.1:1"]
    await Promise.all(ILLEGAL_NAMES.flatMap((name) => [
      expectPlainFailure(["generate", ...noBroker, "--topic", name, "--count", "1"], NAME_RULE, 30_000),
      expectPlainFailure(["analyze", ...noBroker, "--topic", name], NAME_RULE, 30_000),
      expectPlainFailure(["analyze", ...noBroker, "--alerts-topic", name], NAME_RULE, 30_000)
    ]))
  }, 300_000)

  it("a legal name the broker refuses (it collides with an existing topic) ends the generator", async () => {
    const base = `loglens-fatal-${randomSuffix()}`
    await createTopic(shared.brokers, `${base}.x`, 1)
    madeTopic(`${base}_x`) // in case the broker took it after all
    const done = await expectPlainFailure(
      ["generate", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", `${base}_x`, "--count", "10"],
      /creating topic\(s\) .*_x failed: Kafka refused the topic name .*INVALID_TOPIC_EXCEPTION/,
      60_000
    )
    expect(done.stderr).not.toMatch(/retrying/)
  }, 120_000)

  it("a line larger than the topic's max.message.bytes ends the generator, naming the setting", async () => {
    const topic = `loglens-fatal-large-${randomSuffix()}`
    await createTopic(shared.brokers, topic, 1, { "max.message.bytes": "100" })
    const done = await expectPlainFailure(
      ["generate", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", topic, "--count", "5", "--rate", "0"],
      /sending 1 lines to .* failed: Kafka refused a record as too large .*MESSAGE_TOO_LARGE.*max\.message\.bytes/,
      60_000
    )
    expect(done.stderr).not.toMatch(/retrying/)
    expect((await topicOffsets(shared.brokers, topic))[0]!.high).toBe(0)
  }, 120_000)

  it("a topic deleted while the generator writes to it ends the generator (the broker does not recreate it)", async () => {
    const topic = madeTopic(`loglens-fatal-gone-${randomSuffix()}`)
    const generator = cli([
      "generate", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", topic, "--partitions", "1",
      "--count", "1000000", "--rate", "200"
    ])
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const offsets = await topicOffsets(shared.brokers, topic).catch(() => [])
      if ((offsets[0]?.high ?? 0) >= 100) break
      await sleep(250)
    }
    expect(generator.child.exitCode, generator.stderr()).toBe(null)
    await deleteTopic(shared.brokers, topic)
    const deletedAt = Date.now()
    const timer = setTimeout(() => generator.child.kill("SIGKILL"), 90_000)
    const done = await generator.done.finally(() => clearTimeout(timer))
    expect(done.signal, `still running 90 s after the topic was deleted:\n${done.stderr}`).toBe(null)
    expect(done.code, done.stderr).not.toBe(0)
    expect(done.stderr).toMatch(new RegExp(`topic ${topic} does not exist any more`))
    expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
    console.log(`[fatal errors] the generator stopped ${Date.now() - deletedAt} ms after its topic was deleted`)
  }, 180_000)
})
