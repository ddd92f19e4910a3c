/**
 * One analyzer per consumer group, with the REAL CLI against a REAL broker:
 * a second analyzer started beside a live one is refused with a plain
 * message and leaves the first one alone; an analyzer killed with SIGKILL and
 * started again is not refused, and reads again within about 10 s (the
 * group's session timeout is 6 s).
 */
import { describe, expect, it } from "vitest"
import * as path from "node:path"
import { readParts, tempDir } from "../e2e/cli.ts"
import { madeGroup, madeTopic, randomSuffix, sleep } from "./broker.ts"
import { cli, hasStackTrace, interrupt, useSharedBroker } from "./support/processes.ts"
import { createTopic, produceLines } from "./support/topics.ts"
import { lastLinesRead, linesReadPattern } from "./support/truth.ts"

const shared = useSharedBroker()

const lines = (n: number, from: number) =>
  Array.from({ length: n }, (_, i) => {
    const t = new Date(Date.now() - 60_000 + i).toISOString()
    return `{"timestamp":"${t}","ip":"10.0.0.${(from + i) % 250}","method":"GET","url":"/r/${from + i}","status":${i % 5 === 0 ? 500 : 200}}`
  })

const setup = async (label: string, partitions: number) => {
  const id = `${label}-${randomSuffix()}`
  const topic = `loglens-group-${id}`
  const alerts = madeTopic(`${topic}-alerts`)
  const group = madeGroup(`${topic}-group`)
  await createTopic(shared.brokers, topic, partitions)
  /** An analyzer of the group with its own folders; `again()` starts the same command once more. */
  const analyze = (name: string) => {
    const dir = tempDir(`${label}-${name}`)
    const args = [
      "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", topic, "--alerts-topic", alerts,
      "--group-id", group, "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp"),
      "--partitions", String(partitions), "--trigger", "250ms", "--commit-interval", "200ms", "--idle-timeout", "1h"
    ]
    return { output: path.join(dir, "out"), child: cli(args), again: () => cli(args) }
  }
  /** Produces `n` lines spread over the partitions. */
  const produce = async (n: number, from: number) => {
    const all = lines(n, from)
    for (let p = 0; p < partitions; p++) await produceLines(shared.brokers, topic, all.filter((_, i) => i % partitions === p), p)
  }
  /** The first analyzer, once it has read 900 lines. */
  const firstReading900 = async () => {
    const first = analyze("first")
    await first.child.waitFor(/analysing kafka:/, 60_000)
    await produce(900, 0)
    await first.child.waitFor(linesReadPattern(900), 60_000)
    return first
  }
  return { group, analyze, produce, firstReading900 }
}

describe.concurrent("one analyzer per --group-id, real CLI", () => {
  it("a second analyzer in the group is refused in plain words, and the first one carries on undisturbed", async () => {
    const s = await setup("second", 3)
    const first = await s.firstReading900()

    const started = Date.now()
    const second = s.analyze("second")
    const timer = setTimeout(() => second.child.child.kill("SIGKILL"), 60_000)
    const refused = await second.child.done.finally(() => clearTimeout(timer))
    const refusedAfterMs = Date.now() - started
    expect(refused.signal, `the second analyzer was still running after 60 s:\n${refused.stderr}`).toBe(null)
    expect(refused.code, refused.stderr).not.toBe(0)
    expect(refused.stderr).toMatch(
      new RegExp(`another analyzer is running in consumer group "${s.group}" .*one analyzer per --group-id`)
    )
    expect(hasStackTrace(refused.stderr), refused.stderr).toBe(false)
    expect(refused.stderr).not.toMatch(/old epoch|fenced/i)
    // It never read or wrote anything.
    expect(refused.stdout).not.toMatch(/lines read [1-9]/)
    expect(readParts(path.join(second.output, "errors"))).toEqual([])

    // The first analyzer was neither fenced nor rebalanced away: it keeps reading.
    await s.produce(600, 900)
    await first.child.waitFor(linesReadPattern(1500), 60_000)
    const done = await interrupt(first.child)
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).not.toMatch(/old epoch|fenced|took over|another analyzer/i)
    expect(readParts(path.join(first.output, "errors")).length).toBe(300)
    console.log(`[one analyzer per group] the second analyzer was refused after ${refusedAfterMs} ms`)
  }, 240_000)

  it("kill -9 and a restart: not refused, and reading again within about 10 s", async () => {
    const s = await setup("restart", 3)
    const first = await s.firstReading900()
    await sleep(1000) // a few commit intervals: the checkpoint holds all 900 lines
    first.child.child.kill("SIGKILL")
    const killedAt = Date.now()
    expect((await first.child.done).signal).toBe("SIGKILL")
    await s.produce(600, 900)

    // The same command again, on the same output and checkpoint.
    const again = first.again()
    await again.waitFor(linesReadPattern(1500), 60_000)
    const resumedAfterMs = Date.now() - killedAt
    expect(again.child.exitCode, again.stderr()).toBe(null)
    expect(again.stderr()).toMatch(/resuming from checkpoint epoch \d+ .*900 lines already read/)
    expect(lastLinesRead(again.stdout())).toBe(1500)
    const done = await interrupt(again)
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).not.toMatch(/another analyzer|one analyzer per/)
    expect(readParts(path.join(first.output, "errors")).length).toBe(300)
    console.log(`[one analyzer per group] after kill -9, the restart read new lines ${resumedAfterMs} ms after the kill`)
    // The dead member's session (6 s) bounds the wait; the rest is start-up and the first fetch.
    expect(resumedAfterMs).toBeLessThan(12_000)
  }, 240_000)
})
