/**
 * The crash test (issue 4): kill -9 the REAL analyzer (`node dist/main.js
 * analyze --mode production`) at random moments against a REAL broker,
 * restart it each time, and check that the results are exactly those the
 * independent reference model computes from the input:
 *
 * - errors/: the same records (in the same order, on one partition), so none
 *   lost and none twice;
 * - windows/: one row per (window, status) with the reference's counts and
 *   URL sets, unique_ips within 2 %;
 * - rejected/: the malformed lines, each once;
 * - the alerts topic read with read_committed: exactly one alert per
 *   (window, status) over the threshold, error_count = threshold + 1;
 * - between kills, every part file holds whole JSON lines only.
 *
 * The input is produced by the test with a plain kafkajs producer rather than
 * by the generator: the generator stamps every line with the wall clock, so
 * 300 000 lines would fall into one or two windows, in order, all valid. The
 * synthetic input spans 200 windows with error rates just under and over the
 * threshold, 3 % out-of-order records (some of them late), malformed lines
 * and one line dated 2999, so the watermark, late-data decisions, rejections
 * and alerts all have to survive the restarts.
 *
 * It runs on one partition and on three (the lines dealt round-robin), where
 * the ground truth is the per-partition reference (partitionReference.ts).
 * Each restart reads on from the consumer group's committed offsets (the
 * state lives in Kafka: no checkpoint in production mode). A stop keeps the
 * open windows in production mode, so the last run is stopped once the idle
 * rule has closed them all and every window's row is out.
 */
import { describe, expect, it } from "vitest"
import * as path from "node:path"
import { readPartLines, readParts, tempDir } from "../e2e/cli.ts"
import { prng } from "../support/random.ts"
import { madeGroup, madeTopic, randomSuffix, sleep } from "./broker.ts"
import { cli, hasStackTrace, interrupt, useSharedBroker } from "./support/processes.ts"
import { expectProductionAlerts } from "./support/productionAlerts.ts"
import { committedOffsets, createTopic, produceLines, readCommitted, topicOffsets } from "./support/topics.ts"
import {
  errorKey,
  expectSameMultiset,
  expectWindowRows,
  lastLinesRead,
  partitionTruthOf
} from "./support/truth.ts"

const shared = useSharedBroker()

const WINDOW_MS = 30_000
const LINES = 300_000
const STEP_MS = 20 // 1 500 lines per window, 200 windows

/** Per window k, by k % 3: chances of 404 and 500, giving about 300/150, 75/45 and 105/99 errors per window. */
const PROFILES = [[0.2, 0.1], [0.05, 0.03], [0.07, 0.066]] as const
const MALFORMED = [
  "this is not json",
  "{\"timestamp\":\"2025-05-30T18:52:47.123Z\",\"ip\":",
  "[1,2,3]",
  "{\"timestamp\":\"2025-05-30T18:52:47Z\",\"ip\":\"10.0.0.1\",\"method\":\"GET\",\"url\":\"/x\",\"status\":700}",
  "{\"timestamp\":\"2025-05-30T18:52:47\",\"ip\":\"10.0.0.1\",\"method\":\"GET\",\"url\":\"/x\",\"status\":404}"
]

const makeInput = (seed: number): Array<string> => {
  const random = prng(seed)
  const base = Math.floor((Date.now() - 3 * 3_600_000) / WINDOW_MS) * WINDOW_MS
  const methods = ["GET", "POST", "PUT", "DELETE"]
  const lines: Array<string> = []
  for (let i = 0; i < LINES; i++) {
    if (random() < 0.001) {
      lines.push(MALFORMED[Math.floor(random() * MALFORMED.length)]!)
      continue
    }
    if (i === Math.floor(LINES / 2)) {
      // A poisoned watermark: more than --max-future ahead of the clock, so it must be rejected.
      lines.push("{\"timestamp\":\"2999-01-01T00:00:00Z\",\"ip\":\"10.9.9.9\",\"method\":\"GET\",\"url\":\"/x\",\"status\":500}")
      continue
    }
    let t = base + i * STEP_MS
    if (random() < 0.03) t -= Math.floor(random() * 25_000) // out of order; late when over 10 s past a window end
    const [p404, p500] = PROFILES[Math.floor(t / WINDOW_MS) % 3]!
    const roll = random()
    const status = roll < p404 ? 404 : roll < p404 + p500 ? 500 : 200
    const ip = `10.${Math.floor(random() * 4)}.${Math.floor(random() * 40)}.${1 + Math.floor(random() * 6)}`
    const url = `/resource/${1 + Math.floor(random() * 25)}`
    const method = methods[Math.floor(random() * 4)]
    lines.push(`{"timestamp":"${new Date(t).toISOString()}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}`)
  }
  return lines
}

/** Every part file holds whole lines of JSON (readPartLines throws on a file without its last newline). */
const expectWholeLines = (output: string) => {
  for (const folder of ["errors", "windows", "rejected"]) {
    for (const line of readPartLines(path.join(output, folder))) expect(() => JSON.parse(line), `${folder}: ${line}`).not.toThrow()
  }
}

describe("crash recovery: kill -9 the analyzer at random moments", () => {
  for (const partitions of [1, 3]) {
    it(`over ${partitions} partition(s): errors/, windows/, rejected/ and the alerts topic (read_committed) equal the ground truth`, async () => {
      const seed = Number(process.env["LOGLENS_CRASH_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
      const id = `crash-${randomSuffix()}`
      const topic = `loglens-${id}`
      const alertsTopic = madeTopic(`loglens-${id}-alerts`)
      const group = madeGroup(`loglens-${id}-group`)
      madeTopic(`${group}-partials`)
      madeGroup(`${group}-windows`)
      const dir = tempDir("crash")
      const output = path.join(dir, "out")
      const log: Array<string> = [`seed ${seed} (LOGLENS_CRASH_SEED=${seed} replays this input)`]

      const lines = makeInput(seed)
      const split = Array.from({ length: partitions }, (_, p) => lines.filter((_, i) => i % partitions === p))
      const truth = partitionTruthOf(split)
      expect(truth.counters.late).toBeGreaterThan(0)
      expect(truth.counters.rejected).toBeGreaterThan(1)
      expect(truth.alerts.length).toBeGreaterThan(50)
      expect(truth.rows.some((r) => r.error_count === 100 || r.error_count === 99)).toBe(true)

      let t0 = Date.now()
      await createTopic(shared.brokers, topic, partitions)
      for (let p = 0; p < partitions; p++) await produceLines(shared.brokers, topic, split[p]!, p)
      log.push(`produced ${LINES} lines in ${Date.now() - t0} ms`)

      const args = [
        "analyze", "--mode", "production", "--kafka-broker", shared.brokers.join(","), "--topic", topic, "--partitions", String(partitions),
        "--alerts-topic", alertsTopic, "--group-id", group, "--output", output,
        "--commit-interval", "100ms", "--trigger", "250ms",
        // A SIGKILLed analyzer stays in the group until its session times out (6 s), so each restart
        // waits that long before it reads again; a partition with unread records is never idle meanwhile.
        // Short, so that the last run closes the last windows soon after the backlog is read.
        "--idle-timeout", "4s"
      ]
      /** Lines the group has committed (one line per message): where the next run reads on. */
      const committedLines = async () => {
        let sum = 0
        for (const offset of (await committedOffsets(shared.brokers, group, topic)).values()) sum += offset
        return sum
      }
      const random = prng(seed ^ 0x5bd1e995)
      // Five kill points spread over the stream (5 % to 85 % of the lines), each followed by a random
      // delay of up to 0.3 s, so the kills land at unpredictable moments: mid-batch, mid-epoch,
      // between a transaction's commit and the rename of its part files, during stage 2's alert transaction...
      const targets = Array.from({ length: 5 }, () => Math.floor((0.05 + 0.8 * random()) * truth.counters.lines))
        .sort((a, b) => a - b)
      let kills = 0
      t0 = Date.now()
      for (let attempt = 0; kills < 5 && attempt < 12; attempt++) {
        // This run reads on from the committed offsets: its "lines read" counts from there.
        const from = await committedLines()
        const child = cli(args)
        // Wait until this run has read past where the group's commits left off and past the next kill point.
        // After a restart the backlog goes fast, so the commits may already hold every line: then this
        // kill lands after the last line (during idle time, a commit, or stage 2 rebuilding its windows),
        // still a crash to survive.
        const target = Math.min(Math.max(targets[kills]!, from + 1), truth.counters.lines)
        const deadline = Date.now() + 120_000
        while (from + lastLinesRead(child.stdout()) < target && child.child.exitCode === null && Date.now() < deadline) {
          await sleep(10)
        }
        expect(child.child.exitCode, `the analyzer exited on its own:\n${child.stderr()}`).toBe(null)
        expect(from + lastLinesRead(child.stdout()), `no progress in 120 s:\n${child.stderr()}`).toBeGreaterThanOrEqual(target)
        await sleep(Math.floor(random() * 300))
        const seen = lastLinesRead(child.stdout())
        child.child.kill("SIGKILL")
        const end = await child.done
        expect(end.signal).toBe("SIGKILL")
        expect(hasStackTrace(end.stderr), end.stderr).toBe(false)
        expectWholeLines(output)
        log.push(
          `kill ${kills + 1} at ${Date.now() - t0} ms: the run read ${seen} lines on from ${from}; ` +
            `${await committedLines()} lines committed now`
        )
        kills++
      }
      expect(kills, log.join("\n")).toBeGreaterThanOrEqual(5)

      const last = cli(args)
      // A stop keeps open windows: wait until every line is committed and the idle rule has closed every
      // window (its row is out, as many as the reference has: they are compared exactly below).
      const ends = await topicOffsets(shared.brokers, topic)
      const deadline = Date.now() + 300_000
      const settled = async () => {
        if (readParts(path.join(output, "windows")).length < truth.rows.length) return false
        const committed = await committedOffsets(shared.brokers, group, topic)
        return ends.every((e) => (committed.get(e.partition) ?? -1) >= e.high)
      }
      while (!(await settled()) && last.child.exitCode === null && Date.now() < deadline) await sleep(250)
      expect(await settled(), `not settled in 300 s:\n${last.stderr()}`).toBe(true)
      const done = await interrupt(last)
      log.push(`finished at ${Date.now() - t0} ms`)
      expect(done.code, done.stderr).toBe(0)
      expect(hasStackTrace(done.stderr), done.stderr).toBe(false)
      console.log(`[crash test] ${log.join("\n[crash test] ")}`)

      // errors/: exactly the reference's records (in order on one partition): none lost, none twice.
      const errors = readParts(path.join(output, "errors")).map(errorKey)
      const expectedErrors = truth.errors.flat().map((e) => errorKey(JSON.parse(e)))
      expectSameMultiset("errors/", errors, expectedErrors)
      if (partitions === 1) expect(errors).toEqual(expectedErrors)
      expectWindowRows(readParts(path.join(output, "windows")), truth.rows)
      expectSameMultiset("rejected/", readParts(path.join(output, "rejected")).map((r) => r.line), truth.rejectedLines.flat())
      expectProductionAlerts(await readCommitted(shared.brokers, alertsTopic, truth.alerts.length), truth, 100)
    }, 600_000)
  }
})
